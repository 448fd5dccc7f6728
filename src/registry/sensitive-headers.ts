/**
 * Sensitive custom headers: the header names the host marks sensitive
 * (`security.sensitiveHeaders`), whose values are sealed at rest with the secrets' codec and
 * shown redacted on every read.
 *
 * A sealed header value is bound (as additional authenticated data) to its subscription and
 * to its header name in lower case, so a value copied onto another subscription or header
 * does not open. The stored `headers` record keeps the sealed form as an opaque string:
 * storages hold it like any other header value.
 *
 * A value is treated as protected when its name is sensitive or when it is already sealed
 * (a header sealed while it was listed stays sealed, and redacted, after the list changes).
 */
import { ConfigError, ValidationError, describeValue } from '../errors.js';
import { isSealedValue, type SecretCodec } from './secret-codec.js';

/** What every read shows in place of a sensitive header's value. */
export const REDACTED_HEADER_VALUE = '[redacted]';

/** The header names sensitive by default: exact names, and `*` + a suffix. */
export const defaultSensitiveHeaders: readonly string[] = Object.freeze(['authorization', 'cookie', 'proxy-authorization', '*-token', '*-key']);

/** One entry of `security.sensitiveHeaders`: a header name, or `*` followed by the end of names (`*-token`). */
export const sensitiveHeaderPattern = /^\*?[!#$%&'+.^_`|~0-9A-Za-z-]+$/;

/** Tells whether a header name is sensitive. */
export type SensitiveHeaderMatcher = (name: string) => boolean;

/** The matcher for `security.sensitiveHeaders`: names compared without regard to case. */
export function sensitiveHeaderMatcher(patterns: readonly string[] | 'all'): SensitiveHeaderMatcher {
  if (patterns === 'all') return () => true;
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const pattern of patterns) {
    const lower = pattern.toLowerCase();
    if (lower.startsWith('*')) suffixes.push(lower.slice(1));
    else exact.add(lower);
  }
  return (name) => {
    const lower = name.toLowerCase();
    return exact.has(lower) || suffixes.some((suffix) => lower.endsWith(suffix));
  };
}

/** The associated data a header value is sealed with: its subscription and its name. */
function headerBinding(subscriptionId: string, name: string): string {
  // `#` never occurs in a subscription id, so no header binding equals a secret's (the bare id).
  return `${subscriptionId}#header:${name.toLowerCase()}`;
}

/** What sealing and opening header values needs. */
export interface HeaderSealing {
  codec: SecretCodec;
  isSensitive: SensitiveHeaderMatcher;
}

function isProtected(name: string, stored: string, isSensitive: SensitiveHeaderMatcher): boolean {
  return isSealedValue(stored) || isSensitive(name);
}

function openHeader(codec: SecretCodec, stored: string, subscriptionId: string, name: string): string {
  try {
    return codec.open(stored, headerBinding(subscriptionId, name));
  } catch (error) {
    // The codec's message names the key id, never the value; this one names the header.
    throw new ConfigError(
      'SECRET_INVALID',
      `The sealed value of header ${JSON.stringify(name)} of subscription ${subscriptionId} does not open with \`security.secretsKey\` (another key, tampered, or copied from another subscription or header)`,
      { cause: error },
    );
  }
}

/** Seals a protected value again with the current key when it is in clear or sealed with an older one. */
function resealed(stored: string, subscriptionId: string, name: string, codec: SecretCodec): string {
  if (!codec.needsReseal(stored)) return stored;
  return codec.seal(openHeader(codec, stored, subscriptionId, name), headerBinding(subscriptionId, name));
}

/**
 * Refuses a header named twice: HTTP matches names without regard to case, so
 * `{ Authorization: 'a', authorization: 'b' }` would send both, and a redacted value
 * written back could keep the other one's. The message names the header, never a value
 * (it may be a credential).
 * @throws ValidationError `INPUT_INVALID` naming the second spelling, `headers.<name>`.
 */
export function refuseRepeatedHeaderNames(headers: Readonly<Record<string, string>>): void {
  const first = new Map<string, string>();
  for (const name of Object.keys(headers)) {
    const earlier = first.get(name.toLowerCase());
    if (earlier !== undefined) {
      throw new ValidationError(
        'INPUT_INVALID',
        `Expected \`headers\` to name each header once (names are matched without regard to case), got ${JSON.stringify(earlier)} and ${JSON.stringify(name)}`,
        { field: `headers.${name}` },
      );
    }
    first.set(name.toLowerCase(), name);
  }
}

/**
 * The headers to store for an input: sensitive values sealed. Names are matched without
 * regard to case, as HTTP does: two input names differing only in case are refused. The
 * redaction marker keeps the value stored under that name in `stored` (the same spelling
 * first, otherwise the one stored name equal to it without regard to case), so a client
 * that read redacted headers can write them back without ever reading the credentials;
 * where there is no such protected value, or several stored names in different cases could
 * be meant, the marker is refused, as is a value in the sealed form — neither is ever
 * stored as a header value.
 * @throws ValidationError `INPUT_INVALID` naming the header.
 */
export function headersToStore(
  input: Readonly<Record<string, string>>,
  subscriptionId: string,
  stored: Readonly<Record<string, string>> | null,
  { codec, isSensitive }: HeaderSealing,
): Record<string, string> {
  refuseRepeatedHeaderNames(input);
  const storedNames = Object.keys(stored ?? {});
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input)) {
    const field = `headers.${name}`;
    if (isSealedValue(value)) {
      throw new ValidationError('INPUT_INVALID', `Expected \`${field}\` not to start with "enc:v1:" (the form of a sealed value)`, { field });
    }
    if (value === REDACTED_HEADER_VALUE) {
      const keptNames = Object.hasOwn(stored ?? {}, name) ? [name] : storedNames.filter((storedName) => storedName.toLowerCase() === name.toLowerCase());
      if (keptNames.length > 1) {
        throw new ValidationError(
          'INPUT_INVALID',
          `Expected \`${field}\` to be a value, got the redaction marker ${describeValue(REDACTED_HEADER_VALUE)}, which could keep the value of any of the stored headers ${keptNames.map((kept) => JSON.stringify(kept)).join(', ')}: name one as it is stored, or give the value`,
          { field },
        );
      }
      const kept = keptNames.length === 1 ? stored![keptNames[0]!] : undefined;
      if (kept === undefined || !isProtected(name, kept, isSensitive)) {
        throw new ValidationError(
          'INPUT_INVALID',
          `Expected \`${field}\` to be a value, got the redaction marker ${describeValue(REDACTED_HEADER_VALUE)} with no stored sensitive value of that name to keep`,
          { field },
        );
      }
      headers[name] = resealed(kept, subscriptionId, name, codec);
    } else {
      headers[name] = isSensitive(name) ? codec.seal(value, headerBinding(subscriptionId, name)) : value;
    }
  }
  return headers;
}

/** The headers as every read shows them: protected values replaced by the marker, their names listed in sorted order. */
export function redactHeaders(
  stored: Readonly<Record<string, string>>,
  isSensitive: SensitiveHeaderMatcher,
): { headers: Record<string, string>; sensitiveHeaders: string[] } {
  const headers: Record<string, string> = {};
  const sensitiveHeaders: string[] = [];
  for (const [name, value] of Object.entries(stored)) {
    if (isProtected(name, value, isSensitive)) {
      headers[name] = REDACTED_HEADER_VALUE;
      sensitiveHeaders.push(name);
    } else {
      headers[name] = value;
    }
  }
  // Sorted: storages keep a record's keys in different orders (PostgreSQL's jsonb by length).
  return { headers, sensitiveHeaders: sensitiveHeaders.sort() };
}

/**
 * The headers in clear, as they are sent: every sealed value opened.
 * @throws ConfigError `SECRET_INVALID` naming the header whose value does not open.
 */
export function openHeaders(stored: Readonly<Record<string, string>>, subscriptionId: string, codec: SecretCodec): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(stored)) headers[name] = isSealedValue(value) ? openHeader(codec, value, subscriptionId, name) : value;
  return headers;
}

/** The headers resealed with the current key (protected values in clear sealed too), or `null` when none needs it. */
export function resealHeaders(stored: Readonly<Record<string, string>>, subscriptionId: string, { codec, isSensitive }: HeaderSealing): Record<string, string> | null {
  let changed = false;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(stored)) {
    headers[name] = isProtected(name, value, isSensitive) ? resealed(value, subscriptionId, name, codec) : value;
    if (headers[name] !== value) changed = true;
  }
  return changed ? headers : null;
}
