/**
 * `UsageError`: the command line itself is wrong (an unknown command or flag, a missing
 * argument, a value of the wrong shape). The CLI exits 2 on it, so that scripts can tell a
 * mistake in how they call the tool from a failure of what it did (exit 1).
 */

/** A mistake in the command line; `command` names the command whose `--help` to point at. */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}
