/**
 * A flag whose value must be an http(s) URL (`listen --forward-to`, `sign --curl`): checked
 * when the command starts, so that a typo is a usage error and not a request that fails
 * later, or a curl command that cannot run.
 */
import { UsageError } from './usage-error.js';

/** `value` as a normalised http(s) URL, `undefined` when the flag was not given. */
export function httpUrlFlag(value: string | undefined, flag: string, command: string): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`Expected --${flag} to be an http(s) URL, got ${JSON.stringify(value)}`, command);
  }
  return url.href;
}
