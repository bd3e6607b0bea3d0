/**
 * Writing a file that other processes read, in a directory other local users may be able to write
 * to (/dev/shm, /tmp): a plain writeFileSync follows a symlink planted at the name and leaves the
 * file world-readable. Here the data goes to a new temporary file, created O_CREAT | O_EXCL |
 * O_NOFOLLOW with mode 0600 under an unguessable name, and is then renamed over the target: rename(2)
 * replaces a symlink planted at the target instead of following it, and a planted temporary name
 * makes the open fail (EEXIST / ELOOP) instead of writing through it.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = constants;

/** Owner read/write only: a snapshot shows vector numbers, rates and the pid to nobody else. */
export const SNAPSHOT_MODE = 0o600;

/** Atomically replaces `path` with `text` (see the module notes); throws what the syscalls throw. */
export function writeFilePrivate(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, SNAPSHOT_MODE);
  try {
    const bytes = Buffer.from(text);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed by the success path before the rename failed
    }
    // the temporary name is ours (O_EXCL created it): removing it cannot touch anyone else's file
    try {
      unlinkSync(tmp);
    } catch {
      // renamed already, or the directory went away
    }
    throw err;
  }
}
