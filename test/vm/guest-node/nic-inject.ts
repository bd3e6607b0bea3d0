/**
 * The guest's side of the injector protocol (test/vm/host/inject.c): a request is the file
 * nic/req-<k> (written whole, then renamed), the answer nic/res-<k>.json. Requests are numbered across
 * the jobs of a boot, so the next k is one past the highest request already in nic/.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Asks the injector for one run and waits for its answer (it looks for requests every 20 ms). */
export async function inject(
  req: Record<string, string | number>,
  timeoutMs = 120_000,
): Promise<Record<string, number>> {
  const k =
    1 +
    Math.max(
      0,
      ...readdirSync('nic')
        .map((f) => /^req-(\d+)$/.exec(f))
        .filter((m) => m !== null)
        .map((m) => Number(m[1])),
    );
  const line = Object.entries(req)
    .map(([a, b]) => `${a}=${b}`)
    .join(' ');
  writeFileSync(join('nic', `req-${k}.tmp`), `${line}\n`);
  renameSync(join('nic', `req-${k}.tmp`), join('nic', `req-${k}`));
  const res = join('nic', `res-${k}.json`);
  const until = Date.now() + timeoutMs;
  while (!existsSync(res)) {
    if (Date.now() > until) throw new Error(`injector: no answer to req-${k} in ${timeoutMs} ms`);
    await sleep(20);
  }
  return JSON.parse(readFileSync(res, 'utf8')) as Record<string, number>;
}
