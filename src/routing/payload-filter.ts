/**
 * The payload filter of a subscription: a small declarative query over the envelope of an
 * event (`{ type, timestamp, metadata?, data }`, as sent), checked at publish; an event
 * reaches the subscription only when its envelope matches. This header is the contract of
 * the language.
 *
 * **Shape.** A filter is a JSON object with at least one key (`{}` is refused: a
 * subscription without a filter has `filter: null`). Each key is a path or a logical
 * operator, and every key of the object must hold (AND):
 * - `$and: [f, …]` — every filter holds; `$or: [f, …]` — at least one does; both take a
 *   non-empty array of filters. `$not: f` — the filter does not hold.
 * - a path, whose value is a literal or an operator object (below).
 *
 * **Paths.** `type`, `timestamp`, `metadata`, `metadata.<key>`, `data`, or `data.`
 * followed by segments separated by `.`, each non-empty (`data.amount.currency`,
 * `data.lines.0.amount`). `type` and `timestamp` are strings and take no segments;
 * `metadata` is the event's metadata (`publish(…, { metadata })`: a flat object of
 * strings, keys without `.`), missing when the event has none, and takes exactly one
 * segment, a key (`metadata.region`; `metadata.a.b`, and a segment no key can be, are
 * refused); any other root (`id`, `environment`, `foo`) is refused. A segment is a
 * property name of an object (its own properties only, as in JSON: `data.constructor`
 * finds nothing on `{}`); a segment that is a non-negative integer without leading zeros
 * (`0`, `12`, not `01`) also indexes an array. On an array, no other segment finds
 * anything (`data.lines.length` is missing), and there is no implicit traversal:
 * `data.lines.amount` does not look into each line, it looks for a key `amount` on the
 * array and finds none. A key of `data` holding a `.` cannot be reached. At most 16
 * segments (the root counts as one) and 256 characters per path.
 *
 * **Conditions.** A path's value is either a literal — a string, a finite number, a
 * boolean or `null` — which is shorthand for `{ $eq: literal }`, or an operator object
 * whose keys all start with `$`; every operator of the object must hold. An array or an
 * object without `$` keys is refused (values are compared as scalars only: test a field
 * inside an object by its path, an array element by its index or with `$in`), as are an
 * empty operator object, one mixing `$` keys with other keys, and an unknown operator.
 *
 * | operator | operand | holds when the path's value … |
 * |---|---|---|
 * | `$eq` | string, number, boolean or null | is present and equal to it |
 * | `$ne` | string, number, boolean or null | is not `$eq` (a missing value matches) |
 * | `$in` | 1–256 such literals | is present and equal to one of them |
 * | `$nin` | 1–256 such literals | is not `$in` (a missing value matches) |
 * | `$gt` `$gte` `$lt` `$lte` | a finite number or a string | is ordered after / at or after / before / at or before it (below) |
 * | `$exists` | boolean | `true`: is present (`null` included); `false`: is missing |
 *
 * **Semantics.** A path resolves to a value or is *missing* (a key not there, an index
 * past the end, a segment below a scalar or `null`); missing is not `null`: `{ 'data.x':
 * null }` matches `{ x: null }` only, `{ 'data.x': { $exists: false } }` matches `{}`
 * only. Equality is that of JSON scalars: `1` equals `1.0`, nothing is coerced (`1` is not
 * `"1"`, `0` is not `false`), and an object or array value equals no literal. Ordering
 * operators:
 * - a number operand against a number value: numerically;
 * - a string operand that is an RFC 3339 timestamp with time and zone
 *   (`2026-01-01T00:00:00Z`, `2026-01-01T10:00:00.5+02:00`; see rfc3339-instant.ts for
 *   exactly what is taken) against a string value that is one too: by instant, to the
 *   millisecond (fraction digits past the third are ignored). An impossible date (month
 *   13, February 30th) is not a timestamp;
 * - otherwise a string operand against a string value: by UTF-16 code units (JavaScript's
 *   `<`), so `"B" < "a"` and `"10" < "9"`;
 * - anything else — a number against a string, a boolean, `null`, an object, an array,
 *   a missing value — does not hold, for every ordering operator.
 *
 * `$eq` and `$in` compare timestamps as strings, not instants: `{ timestamp: { $gte: t,
 * $lte: t } }` matches the instant `t` in any notation.
 *
 * **Limits.** Logical operators nest at most 8 deep; at most 64 path conditions in the
 * whole filter; strings (literals, operands, list elements) of at most 1,024 characters;
 * the canonical text at most 8,192 bytes of UTF-8. Values must be plain JSON: plain
 * objects (or null-prototype ones), arrays, strings, finite numbers, booleans and `null`;
 * class instances (`Date`, `Map`), functions, `undefined`, `NaN`, `±Infinity`, symbols
 * (as values or keys) and BigInts are refused, and so is an object whose reading throws
 * (a getter, a proxy; `field` is then the filter's).
 *
 * **Refusals** are `ValidationError`s with code `PAYLOAD_FILTER_INVALID`; `field` names
 * where: `filter.$or[1].data.amount.$gte` (the operator), `filter.data.amount` (the
 * condition: a bad path, a literal of the wrong type, operators mixed with other keys),
 * `filter.type.$in[3]` (an element of a list), `filter.$not.$and` (the logical operator
 * past the depth limit, or holding no array), the path condition past the count limit,
 * and `filter` for the filter as a whole (not an object, empty, over 8,192 bytes).
 *
 * **Canonical text.** `JSON.stringify` of the validated filter, keys in the order given,
 * literals kept as literals: what storage keeps and {@link payloadFilterMatcher} compiles.
 * The same filter written the same way gives the same text.
 */
import { compilePayloadFilter } from './compile-payload-filter.js';
import { payloadFilterFromText, validatePayloadFilter } from './validate-payload-filter.js';

/** A literal of the filter language: a JSON scalar. */
export type PayloadFilterLiteral = string | number | boolean | null;

/** The operators of one path condition; every one given must hold. */
export interface PayloadFilterOperators {
  /** The value is present and equal to the literal (no coercion: `1` is not `"1"`). */
  readonly $eq?: PayloadFilterLiteral;
  /** Not `$eq`: a missing value matches. */
  readonly $ne?: PayloadFilterLiteral;
  /** The value is present and equal to one of 1–256 literals. */
  readonly $in?: readonly PayloadFilterLiteral[];
  /** Not `$in`: a missing value matches. */
  readonly $nin?: readonly PayloadFilterLiteral[];
  /** Ordered after: numbers numerically, timestamps by instant, other strings by UTF-16 code units. */
  readonly $gt?: number | string;
  /** Ordered at or after (see `$gt`). */
  readonly $gte?: number | string;
  /** Ordered before (see `$gt`). */
  readonly $lt?: number | string;
  /** Ordered at or before (see `$gt`). */
  readonly $lte?: number | string;
  /** `true`: the path resolves to a value, `null` included; `false`: it is missing. */
  readonly $exists?: boolean;
}

/** What a path is tested with: a literal (shorthand for `$eq`) or an operator object. */
export type PayloadFilterCondition = PayloadFilterLiteral | PayloadFilterOperators;

/**
 * The filter language: paths (`type`, `timestamp`, `metadata`, `metadata.<key>`, `data`,
 * `data.<segment>…`) to conditions, and the logical operators `$and`, `$or` (non-empty arrays of filters) and
 * `$not`. Every key given must hold. See this module's header for the full contract.
 *
 * @example
 * ```ts
 * const bigEuroPayments: PayloadFilter = {
 *   'data.amount.currency': 'EUR',
 *   'data.amount.amount': { $gte: 100000 },
 * };
 * ```
 */
export type PayloadFilter = {
  readonly type?: PayloadFilterCondition;
  readonly timestamp?: PayloadFilterCondition;
  readonly metadata?: PayloadFilterCondition;
  readonly [path: `metadata.${string}`]: PayloadFilterCondition | undefined;
  readonly data?: PayloadFilterCondition;
  readonly [path: `data.${string}`]: PayloadFilterCondition | undefined;
  readonly $and?: readonly PayloadFilter[];
  readonly $or?: readonly PayloadFilter[];
  readonly $not?: PayloadFilter;
};

/**
 * What a filter is evaluated on: the envelope as sent. `data` is its JSON value (plain
 * objects, arrays, strings, finite numbers, booleans, null), as a receiver parses it, or
 * the data being published, whose values with a `toJSON` (a `Date`) the matcher reads as
 * what their `toJSON` returns, as the body holds them; another class instance in it is not
 * what was sent, and the matcher does not look into one as it would into its JSON form.
 */
export interface FilterDocument {
  type: string;
  timestamp: string;
  /** The envelope's metadata; absent when the event has none (then `metadata` paths are missing). */
  metadata?: Readonly<Record<string, string>>;
  data: unknown;
}

/**
 * Validates a filter given by a user; returns its canonical JSON text (what storage keeps).
 *
 * @param field - where the filter sits in the caller's input, the prefix of every `field`
 *   of a refusal.
 * @throws ValidationError code `PAYLOAD_FILTER_INVALID` with `field` naming the offending
 *   path, e.g. `filter.$or[1].data.amount.$gte`; the message says what was expected and
 *   what came.
 */
export function parsePayloadFilter(value: unknown, field = 'filter'): string {
  return validatePayloadFilter(value, field).text;
}

/** Matchers by text; the oldest entry goes first when it is full. */
const matchers = new Map<string, (document: FilterDocument) => boolean>();

/** How many compiled filters {@link payloadFilterMatcher} keeps. */
const maxCachedMatchers = 1000;

/**
 * The matcher of a filter's text (as {@link parsePayloadFilter} returned it; any JSON text
 * of a valid filter is taken), compiled once and kept in a cache of 1,000 texts that drops
 * the oldest entry first: the same text gives the same function while it stays cached.
 *
 * @throws ValidationError `PAYLOAD_FILTER_INVALID` (`field` under `filter`) for a text that
 *   is not JSON, or not the JSON of a valid filter.
 */
export function payloadFilterMatcher(json: string): (document: FilterDocument) => boolean {
  const cached = matchers.get(json);
  if (cached !== undefined) return cached;
  const matcher = compilePayloadFilter(payloadFilterFromText(json, 'filter'));
  if (matchers.size >= maxCachedMatchers) matchers.delete(matchers.keys().next().value as string);
  matchers.set(json, matcher);
  return matcher;
}

/**
 * The filter of a text (as {@link parsePayloadFilter} returned it), for showing it back to
 * users: a new object on every call.
 *
 * @throws ValidationError `PAYLOAD_FILTER_INVALID` for a text that is not a valid filter's JSON.
 */
export function payloadFilterOf(json: string): PayloadFilter {
  return payloadFilterFromText(json, 'filter');
}
