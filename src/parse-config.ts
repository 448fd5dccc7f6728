/**
 * `parseConfig`: the options parser of the library's factories (`createWebhooks`, the
 * transports): a failed parse becomes the `ConfigError` `CONFIG_INVALID` that says, for
 * every issue, what was expected and what came.
 */
import type { z } from 'zod';
import { describeIssues } from './describe-issues.js';
import { ConfigError } from './errors.js';

/** The parsed options; `undefined` and `null` read as `{}`. @throws ConfigError `CONFIG_INVALID`. */
export function parseConfig<S extends z.ZodType>(schema: S, options: unknown): z.output<S> {
  let parsed: z.ZodSafeParseResult<z.output<S>>;
  try {
    parsed = schema.safeParse(options ?? {});
  } catch (cause) {
    // Options whose reading throws (a getter, a Proxy's trap) are options that cannot be read.
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError('CONFIG_INVALID', `Expected options that can be read, got an object whose reading threw (${reason})`, { cause });
  }
  if (parsed.success) return parsed.data;
  const { message, field } = describeIssues(parsed.error, options, { schema });
  throw new ConfigError('CONFIG_INVALID', message, { field, cause: parsed.error });
}
