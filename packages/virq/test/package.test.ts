import { readFileSync } from 'node:fs';
import test from 'ava';

const pkg = (path: string) => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));

// virq is the package users install: everything it depends on must be installable too, so no
// private workspace package (the benchmarks used to be one: `@virq/bench`).
test('virq depends on no private workspace package', (t) => {
  const virq = pkg('../../package.json');
  const privateNames = new Set(
    ['../../../../bench/package.json', '../../../../test/package.json']
      .map(pkg)
      .filter((p) => p.private)
      .map((p) => p.name),
  );
  t.true(privateNames.has('@virq/bench'), 'the bench package is still private');
  for (const name of Object.keys({ ...virq.dependencies, ...virq.peerDependencies })) {
    t.false(privateNames.has(name), `virq depends on private ${name}`);
  }
  t.truthy(virq.exports['./bench'], 'the harness is exported as virq/bench');
});
