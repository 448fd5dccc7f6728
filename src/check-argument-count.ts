/**
 * `checkArgumentCount`: refuses positional arguments a public function does not take.
 *
 * JavaScript drops extra arguments without a word, so a call written the way another
 * library spells it — `createPostgresStorage({ connectionString }, { schema: 'x' })` —
 * would run with none of the second object's settings. Each public factory and call whose
 * options a caller may plausibly split over two objects checks its `arguments.length`.
 */
import { ConfigError, ValidationError } from './errors.js';

/**
 * Throws when `given` exceeds `takes`: a `ConfigError` `CONFIG_INVALID` for a factory
 * (`kind: 'factory'`), a `ValidationError` `INPUT_INVALID` for a call on an instance.
 *
 * @param given - `arguments.length` of the call.
 * @param takes - how many positional arguments the function takes.
 * @param signature - the function as the message shows it, e.g. `createSqliteStorage(options)`.
 *
 * @internal
 */
export function checkArgumentCount(given: number, takes: number, signature: string, kind: 'factory' | 'call'): void {
  if (given <= takes) return;
  const message = `Expected \`${signature}\` to get at most ${takes} argument${takes === 1 ? '' : 's'}, got ${given}: the extra ones would be ignored, so every option goes in its options object`;
  throw kind === 'factory' ? new ConfigError('CONFIG_INVALID', message) : new ValidationError('INPUT_INVALID', message);
}
