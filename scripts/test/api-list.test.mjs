// Each public package's README lists its public API (scripts/api-list.mjs): the list must be exactly
// what src/index.ts exports, so the README cannot drift from the code. Runs on the built workspace
// (sibling packages resolve to their declarations).
import test from 'ava';
import { compare, exportsOf, listed, render } from '../api-list.mjs';

for (const { dir, listed: have, actual } of compare()) {
  const name = dir.split('/').slice(-2).join('/');
  test(`${name}: the README's API list is what src/index.ts exports`, (t) => {
    t.not(have, undefined, `${name}/README.md has no API list: node scripts/api-list.mjs --write`);
    t.is(have, actual, `${name}/README.md is out of date: node scripts/api-list.mjs --write`);
  });
}

test('the check sees a name missing from a README and a name that is no longer exported', (t) => {
  const { dir, readme } = compare().find(({ dir }) => dir.endsWith('/packages/core'));
  const list = listed(readme);
  const actual = render(exportsOf(dir));
  t.is(list, actual);
  t.not(list.replace('`SoftDevice`, ', ''), actual, 'a dropped name must fail');
  t.not(list.replace('`SoftDevice`, ', '`SoftDevice`, `GoneName`, '), actual, 'a stale name must fail');
});
