/**
 * Reading the options object of a storage factory (`createSqliteStorage`,
 * `createPostgresStorage`): one parser, so both refuse bad options with the same kind of
 * message, naming the field, what it should be and what came.
 */
import type { z } from 'zod';
import { ConfigError, describeValue } from '../../errors.js';

/**
 * @param expectations what each field should be, in words, for the message (`'a positive integer'`).
 * @throws ConfigError `CONFIG_INVALID` for a non-object, an unknown key, or a field its schema refuses.
 */
export function parseFactoryOptions<S extends z.ZodType>(
  schema: S,
  options: unknown,
  factory: string,
  keys: readonly string[],
  expectations: Readonly<Record<string, string>>,
): z.output<S> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError('CONFIG_INVALID', `Expected the options of ${factory}() to be an object, got ${describeValue(options)}`);
  }
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    throw new ConfigError('CONFIG_INVALID', `Unknown option \`${key}\` of ${factory}(); expected one of ${keys.join(', ')}`, { field: key });
  }
  const field = String(issue?.path[0] ?? '');
  const expected = Object.hasOwn(expectations, field) ? expectations[field] : 'a valid value';
  throw new ConfigError('CONFIG_INVALID', `Expected \`${field}\` to be ${expected}, got ${describeValue((options as Record<string, unknown>)[field])}`, {
    field,
  });
}
