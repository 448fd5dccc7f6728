/**
 * `throwValidation` and `parseInput`: turn a failed zod parse of a public call's input into
 * the `ValidationError` every such call throws, each issue described.
 *
 * zod does not catch what reading the input throws: a getter, a Proxy's trap (`get`,
 * `ownKeys`, `has`, `getPrototypeOf`) would escape a parse as the host's own exception, with
 * no `code`. `parseInput` refuses such an input with the call's code instead, as `parseConfig`
 * does for options.
 */
import type { z } from 'zod';
import { describeIssues } from './describe-issues.js';
import { ValidationError, type ValidationErrorCode } from './errors.js';

/** Throws a `ValidationError` with `code` for a failed parse of `input` by `schema`, every issue described. */
export function throwValidation(code: ValidationErrorCode, error: z.ZodError, input: unknown, schema: z.ZodType, prefix = ''): never {
  let described: { message: string; field: string };
  try {
    described = describeIssues(error, input, { schema, prefix });
  } catch {
    // Describing what came reads the input again: a getter that threw this time gets zod's words.
    const [issue] = error.issues;
    const field = [prefix, ...(issue?.path ?? []).map(String)].filter((part) => part !== '').join('.');
    described = { message: `Expected ${field === '' ? 'the input' : `\`${field}\``} to be valid: ${issue?.message ?? 'it is not'}`, field };
  }
  const { message, field } = described;
  // A problem with the argument as a whole (`null`, a selector with no condition) names no field.
  throw new ValidationError(code, message, { ...(field === '' ? {} : { field }), cause: error });
}

/**
 * A `ValidationError` with `code` for an input whose reading threw (a getter, a Proxy's trap):
 * `field` is `prefix` (the argument as a whole when empty), `cause` what was thrown.
 */
export function unreadableInput(code: ValidationErrorCode, cause: unknown, prefix = ''): ValidationError {
  const reason = describeThrown(cause);
  const what = prefix === '' ? 'an argument' : `\`${prefix}\``;
  return new ValidationError(code, `Expected ${what} that can be read, got an object whose reading threw (${reason})`, {
    ...(prefix === '' ? {} : { field: prefix }),
    cause,
  });
}

/**
 * `input` parsed by `schema`.
 * @throws ValidationError `code`: the issues described (see {@link throwValidation}), or
 *   {@link unreadableInput} when reading the input threw.
 */
export function parseInput<S extends z.ZodType>(code: ValidationErrorCode, schema: S, input: unknown, prefix = ''): z.output<S> {
  let parsed: z.ZodSafeParseResult<z.output<S>>;
  try {
    parsed = schema.safeParse(input);
  } catch (cause) {
    throw unreadableInput(code, cause, prefix);
  }
  if (!parsed.success) throwValidation(code, parsed.error, input, schema, prefix);
  return parsed.data;
}

/** What was thrown, in words; a value that cannot even be turned into a string (`Object.create(null)`) is named by its type. */
function describeThrown(cause: unknown): string {
  try {
    return cause instanceof Error ? cause.message : String(cause);
  } catch {
    return `a thrown ${typeof cause}`;
  }
}
