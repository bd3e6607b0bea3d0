import { readdirSync } from 'node:fs';

/** The fd numbers open in this process right now (leak checks compare two of these). */
export function openFds(): Set<string> {
  return new Set(readdirSync('/proc/self/fd'));
}
