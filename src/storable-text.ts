/**
 * `isStorableText` and `requireId`: text every storage can hold, checked once above the
 * adapters so that memory, SQLite and PostgreSQL take or refuse the same input with the
 * same code.
 *
 * PostgreSQL's `text` and `jsonb` cannot hold U+0000 (the driver's error would surface as
 * `STORAGE_FAILED`), while memory and SQLite keep it. Nor can they hold a lone surrogate
 * (half of a UTF-16 pair, which has no UTF-8 form): the driver writes `text` with U+FFFD in
 * its place, so that two different idempotency keys became one, and `jsonb` refuses it
 * (`STORAGE_FAILED` again). A description, a reason, an idempotency key or an id with
 * either is refused with `INPUT_INVALID` before any storage sees it. Event data is not
 * concerned: it is stored as its JSON text, where U+0000 and a lone surrogate are the
 * escapes `\u0000` and `\ud800`, which every adapter keeps.
 */
import { ValidationError, describeValue } from './errors.js';

/**
 * Half of a UTF-16 pair without its other half: it has no UTF-8 form, so PostgreSQL and SQLite
 * would store something else. Here, without zod, so that the receiver's SQL inbox can use it.
 */
export const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when every storage can hold `text`: it has no U+0000 and no lone surrogate. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !loneSurrogate.test(text);
}

/** The zod message of a string refused by {@link isStorableText}. */
export const storableTextMessage =
  'well-formed Unicode text without U+0000 (PostgreSQL cannot store the NUL character, nor a lone surrogate)';

/**
 * `id` when it is an id a storage can look up: a string of 1 to 255 characters of
 * well-formed Unicode without U+0000. Else a `ValidationError` `INPUT_INVALID` on `field`.
 */
export function requireId(id: unknown, field: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 255 || !isStorableText(id)) {
    throw new ValidationError(
      'INPUT_INVALID',
      `Expected \`${field}\` to be a non-empty string of well-formed Unicode without U+0000 (no lone surrogate), got ${describeValue(id)}`,
      { field },
    );
  }
  return id;
}
