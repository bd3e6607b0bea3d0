import { UsageError } from './errors.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/**
 * Parses a duration such as `10s`, `500ms`, `1.5s` or `2m` into milliseconds. A bare number means
 * seconds (as `--duration 10` is read by people). Throws {@link UsageError} naming the flag.
 */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag}: expected a duration like 10s, 500ms or 2m, got '${text}'`);
  const ms = Number(match[1]) * DURATION_UNITS[match[2] ?? 's'];
  if (ms <= 0) throw new UsageError(`${flag}: duration must be greater than zero, got '${text}'`);
  return ms;
}

/** Parses a whole number in `[min, max]`; throws {@link UsageError} naming the flag and the range. */
export function parseIntInRange(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag}: expected a whole number, got '${text}'`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${flag}: must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Returns `text` if it is one of `choices`, else throws {@link UsageError} listing them. */
export function parseChoice<T extends string>(text: string, flag: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new UsageError(`${flag}: expected one of ${choices.join(', ')}, got '${text}'`);
}
