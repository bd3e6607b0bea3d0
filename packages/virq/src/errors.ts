/**
 * A usage error: bad flag, bad value, unknown command. The CLI prints its message on one line and
 * exits with {@link UsageError.exitCode} — never a stack trace for a user's typo.
 */
export class UsageError extends Error {
  /** Stable, errno-style code: always 'EUSAGE' for bad command-line input. */
  readonly code = 'EUSAGE';
  /** Exit status for usage errors, as BSD's sysexits EX_USAGE. */
  readonly exitCode = 64;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
