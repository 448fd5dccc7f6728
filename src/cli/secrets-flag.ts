/**
 * The signing secrets of a command: `--secret` (repeatable where a command verifies, for a
 * rotation) or, to keep a secret out of the process list and the shell history, the
 * `WEBHOOK_SECRET` environment variable. Secrets are passed to the library as they are and
 * never printed: a malformed one fails with `SECRET_INVALID`, whose message omits it.
 */
import { stringFlags, type Command, type CommandArgs } from './command.js';
import type { CliIo } from './cli-io.js';
import { UsageError } from './usage-error.js';

/** The environment variable read when no `--secret` is given. */
export const SECRET_ENV = 'WEBHOOK_SECRET';

/** The help line of `--secret`. */
export const secretHelp = `--secret <whsec_…>      the signing secret (or set ${SECRET_ENV})`;

/** The help line of `--secret` where a `v1a` key is taken too: `whsk_` to sign, `whpk_` to verify. */
export function keyedSecretHelp(key: 'whsk_' | 'whpk_'): string {
  return `--secret <whsec_…|${key}…>
                          the signing secret, or a v1a (Ed25519) ${key === 'whsk_' ? 'secret key' : 'public key'} (or set ${SECRET_ENV})`;
}

/** The secrets given to `command`. @throws UsageError when there is none. */
export function secretsOf(args: CommandArgs, io: CliIo, command: Command): string[] {
  const given = stringFlags(args, 'secret');
  if (given.length > 0) return given;
  const fromEnv = io.env[SECRET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return [fromEnv];
  throw new UsageError(`Expected --secret <whsec_…> (or ${SECRET_ENV} in the environment) for \`${command.name}\`, got neither`, command.name);
}
