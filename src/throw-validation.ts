/**
 * `throwValidation`: turns a failed zod parse of a public call's input into the
 * `ValidationError` every such call throws, each issue described.
 */
import type { z } from 'zod';
import { describeIssues } from './describe-issues.js';
import { ValidationError, type ValidationErrorCode } from './errors.js';

/** Throws a `ValidationError` with `code` for a failed parse of `input` by `schema`, every issue described. */
export function throwValidation(code: ValidationErrorCode, error: z.ZodError, input: unknown, schema: z.ZodType, prefix = ''): never {
  const { message, field } = describeIssues(error, input, { schema, prefix });
  // A problem with the argument as a whole (`null`, a selector with no condition) names no field.
  throw new ValidationError(code, message, { ...(field === '' ? {} : { field }), cause: error });
}
