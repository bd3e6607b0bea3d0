// What the scripts' tests share: running a script as a real child process.
import { spawn } from 'node:child_process';

/** Runs `node …args` in `cwd` (with `env`); resolves with its exit code and its stdout + stderr. */
export function runNode(args, { cwd, env = process.env }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      out += c;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}
