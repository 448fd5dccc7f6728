/**
 * `isStorableText` and `requireId`: text every storage can hold, checked once above the
 * adapters so that memory, SQLite and PostgreSQL take or refuse the same input with the
 * same code.
 *
 * PostgreSQL's `text` and `jsonb` cannot hold U+0000 (the driver's error would surface as
 * `STORAGE_FAILED`), while memory and SQLite keep it; a description, a reason, an
 * idempotency key or an id with one is refused with `INPUT_INVALID` before any storage sees
 * it. Event data is not concerned: it is stored as its JSON text, where U+0000 is the
 * escape `\u0000`, which every adapter keeps.
 */
import { ValidationError, describeValue } from './errors.js';

/** True when every storage can hold `text`: it has no U+0000. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000');
}

/** The zod message of a string refused by {@link isStorableText}. */
export const storableTextMessage = 'text without U+0000 (the NUL character, which PostgreSQL cannot store)';

/**
 * `id` when it is an id a storage can look up: a string of 1 to 255 characters without
 * U+0000. Else a `ValidationError` `INPUT_INVALID` on `field`.
 */
export function requireId(id: unknown, field: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 255 || !isStorableText(id)) {
    throw new ValidationError('INPUT_INVALID', `Expected \`${field}\` to be a non-empty string without U+0000, got ${describeValue(id)}`, { field });
  }
  return id;
}
