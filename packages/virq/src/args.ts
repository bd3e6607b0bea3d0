import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * One command's flags: those named in `strings` take a value, those in `booleans` do not (names
 * separated by spaces), and -h/--help prints `help`.
 * @returns the values (strictly parsed, see {@link parseFlags}), or null once the help was printed.
 */
export function parseCommand(
  command: string,
  argv: string[],
  help: string,
  strings: string,
  booleans = '',
): Record<string, string | boolean | undefined> | null {
  const options: Options = { help: { type: 'boolean', short: 'h' } };
  for (const k of strings.split(' ').filter(Boolean)) options[k] = { type: 'string' };
  for (const k of booleans.split(' ').filter(Boolean)) options[k] = { type: 'boolean' };
  const values = parseFlags(command, argv, options);
  if (!values.help) return values;
  process.stdout.write(`${help}\n`);
  return null;
}

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
