/**
 * An event's metadata (`publish(type, data, { metadata })`): a flat object of strings the
 * host attaches for routing and context — `{ region: 'eu', source: 'pos' }` — outside the
 * catalog's `data`, sent in the envelope and readable by payload filters as `metadata.<key>`.
 * The rules are checked once here, at publish.
 *
 * A key has no `.`: a filter path `metadata.<key>` then names exactly one key.
 */
import { z } from 'zod';
import { ValidationError } from './errors.js';
import { isStorableText, storableTextMessage } from './storable-text.js';

/** Most keys an event's metadata holds. */
export const METADATA_MAX_KEYS = 20;
/** Longest metadata value, in UTF-16 code units. */
export const METADATA_MAX_VALUE_LENGTH = 500;

/** A metadata key: 1 to 40 letters, digits, `_` or `-` (no `.`, so `metadata.<key>` is one path). */
export const metadataKeyPattern = /^[A-Za-z0-9_-]{1,40}$/;

/**
 * Parses `publish`'s `metadata` option: the validated copy, keys in the order given. A key
 * `__proto__` never reaches the key check (zod leaves it out of the copy, which a plain
 * object's setter would swallow): {@link refuseMetadataProtoKey} refuses it instead.
 */
export const eventMetadataSchema = z
  .record(
    z
      .string()
      .regex(metadataKeyPattern, 'a key of 1 to 40 letters, digits, `_` or `-` (no `.`)'),
    z.string().max(METADATA_MAX_VALUE_LENGTH).refine(isStorableText, storableTextMessage),
  )
  .refine((metadata) => Object.keys(metadata).length <= METADATA_MAX_KEYS, `an object of at most ${METADATA_MAX_KEYS} keys`);

/** An event's metadata as validated: `null` for none (no option, or `{}`). */
export function eventMetadataOrNull(metadata: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> | null {
  if (metadata === undefined) return null;
  for (const _key in metadata) return metadata;
  return null;
}

/**
 * Refuses an own `__proto__` key (from `JSON.parse`, say), which the schema would drop
 * unseen: the host meant it as metadata, and it would not be sent.
 * @throws ValidationError `INPUT_INVALID` on `<field>.__proto__`.
 */
export function refuseMetadataProtoKey(metadata: unknown, field: string): void {
  if (typeof metadata === 'object' && metadata !== null && Object.hasOwn(metadata, '__proto__')) {
    throw new ValidationError('INPUT_INVALID', `Expected each key of \`${field}\` to be a key other than \`__proto__\`, got "__proto__"`, {
      field: `${field}.__proto__`,
    });
  }
}
