/**
 * The environment an instance publishes for (`live`, `test`, or a host-chosen name), part of
 * the wire format beside the signature: the one rule for its form, shared by
 * `createWebhooks({ environment })` and the receivers' `environment` option, and the name of
 * the header that carries it.
 *
 * Runtime-neutral, no zod: the verify core of the `./receiver` entry imports it.
 */

/**
 * The request header that carries the sender's environment on each delivery of an
 * instance configured with one (`bookkeeper-environment: test`). Outside the `webhook-*`
 * namespace, which Standard Webhooks keeps for its own headers. The signature does not cover
 * it: it serves routing and logs before verification; a receiver decides from the
 * envelope's signed `environment` field, never from this header.
 */
export const ENVIRONMENT_HEADER = 'bookkeeper-environment';

/** Longest environment name, in characters. */
export const ENVIRONMENT_MAX_LENGTH = 32;

// A lower-case letter, then lower-case letters, digits, `-` or `_`: safe as it is in a JSON
// string (the envelope is written around it without escaping) and in a header value.
const environmentPattern = /^[a-z][a-z0-9_-]*$/;

/** What an environment name must be, for error messages. */
export const ENVIRONMENT_NAME_RULE = `a lower-case token of 1 to ${ENVIRONMENT_MAX_LENGTH} characters: a letter, then letters, digits, "-" or "_" (e.g. "live", "test")`;

/** True for a valid environment name (see {@link ENVIRONMENT_NAME_RULE}). */
export function isEnvironmentName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= ENVIRONMENT_MAX_LENGTH && environmentPattern.test(value);
}
