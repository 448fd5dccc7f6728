/**
 * A tenant id as the host gives it (its organisation id): checked once here for
 * `subscriptions.create`, `publish`, the tenant-scoped reads and `tenants.delete`, so that
 * every storage holds the same ids and a malformed one is refused with `INPUT_INVALID`.
 */
import { z } from 'zod';
import { loneSurrogate } from './storable-text.js';

/** Longest tenant id, in UTF-16 code units. */
export const TENANT_ID_MAX_LENGTH = 128;

// C0 controls, DEL and C1 controls: nothing that a log line, a header or a terminal would
// render as something else.
export const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/;

/** A tenant id: 1 to 128 characters, no control characters, well-formed Unicode. */
export const tenantIdSchema = z
  .string()
  .min(1)
  .max(TENANT_ID_MAX_LENGTH)
  .refine((id) => !controlCharacter.test(id), 'a tenant id without control characters (U+0000–U+001F, U+007F–U+009F)')
  .refine((id) => !loneSurrogate.test(id), 'a tenant id of well-formed Unicode (no lone surrogate)');

/** A tenant filter of a read: a tenant id, or `null` for the platform's own (tenantless) records. */
export const tenantFilterSchema = tenantIdSchema.nullable();
