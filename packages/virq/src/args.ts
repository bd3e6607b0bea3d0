import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict flag parsing for one command: unknown flags, missing values and stray arguments become a
 * {@link UsageError} whose message is a single line (node's own messages can span three).
 */
export function parseFlags(
  command: string,
  argv: string[],
  options: Options,
): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message.split('\n')[0].replace(/\.$/, '')}`);
  }
}
