/**
 * An ordering key as the host gives it (`publish(…, { orderingKey })`: an account id, a
 * payment id): checked once here, so that every storage holds the same keys and the
 * envelope carries it unchanged; a malformed one is refused with `INPUT_INVALID`.
 */
import { z } from 'zod';
import { loneSurrogate } from './storable-text.js';
import { controlCharacter } from './tenant-id.js';

/**
 * Longest ordering key, in characters (Unicode code points, as zod's `max` and JSON Schema's
 * `maxLength` count them): at most 400 UTF-16 code units, 800 bytes of UTF-8, which every
 * storage's key index holds.
 */
export const ORDERING_KEY_MAX_LENGTH = 200;

/** An ordering key: 1 to 200 characters, no control characters, well-formed Unicode. */
export const orderingKeySchema = z
  .string()
  .min(1)
  .max(ORDERING_KEY_MAX_LENGTH)
  .refine((key) => !controlCharacter.test(key), 'an ordering key without control characters (U+0000–U+001F, U+007F–U+009F)')
  .refine((key) => !loneSurrogate.test(key), 'an ordering key of well-formed Unicode (no lone surrogate)');
