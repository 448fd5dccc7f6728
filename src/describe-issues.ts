/**
 * The one formatter of zod issues: turns a failed parse into a message that names the
 * option path, what was expected (the valid keys, the allowed values, the accepted
 * shapes) and what came. Every `ConfigError` and `ValidationError` raised from a zod
 * schema is worded here.
 *
 * What was expected is read from the schema itself (zod 4's `_zod.def`), so a new option
 * shows up in the messages without anyone writing them; an issue whose schema cannot be
 * read (a catalog schema from another copy of zod) falls back to zod's own wording.
 */
import type { z } from 'zod';
import { closestName, describeValue } from './errors.js';

type Key = PropertyKey;

/** The parts of a zod 4 schema the formatter reads. */
interface SchemaLike {
  readonly _zod?: { readonly def?: Record<string, unknown> };
  readonly description?: string;
  readonly minValue?: number | null;
  readonly maxValue?: number | null;
  readonly isInt?: boolean;
  readonly minLength?: number | null;
  readonly maxLength?: number | null;
}

/** A zod 4 issue as the formatter reads it (the fields of every issue kind it renders). */
interface IssueLike {
  readonly code: string;
  readonly path: readonly Key[];
  readonly message: string;
  readonly keys?: readonly string[];
  readonly values?: readonly unknown[];
  readonly errors?: readonly (readonly IssueLike[])[];
  /** What the key schema of a record said of an `invalid_key`. */
  readonly issues?: readonly IssueLike[];
  readonly expected?: string;
  /** A custom check's own words for what came (`params.got`), where the value itself must not be shown (a secret). */
  readonly params?: { readonly got?: unknown };
  readonly origin?: string;
  readonly minimum?: number | bigint;
  readonly maximum?: number | bigint;
  readonly inclusive?: boolean;
  readonly pattern?: string;
}

/** How a formatted message is framed. */
export interface DescribeIssuesOptions {
  /** The schema that failed, read for the valid keys, values and shapes. */
  schema: z.ZodType;
  /** Put in front of every path, e.g. `"data"` for an event's payload. */
  prefix?: string;
}

// Rendering every issue of a badly wrong input would bury the first ones.
const MAX_ISSUES = 5;
const MAX_KEYS_LISTED = 40;

const defOf = (schema: SchemaLike | undefined): Record<string, unknown> | undefined => schema?._zod?.def;
const typeOf = (schema: SchemaLike | undefined): string | undefined => defOf(schema)?.type as string | undefined;

/** Strips the wrappers that do not change what a value must look like. */
function unwrap(schema: SchemaLike): { schema: SchemaLike; nullable: boolean } {
  let current = schema;
  let nullable = false;
  for (let depth = 0; depth < 20; depth++) {
    if (current.description !== undefined) break;
    const def = defOf(current);
    const type = def?.type;
    if (type === 'optional' || type === 'default' || type === 'prefault' || type === 'nonoptional' || type === 'readonly' || type === 'catch') {
      current = def!.innerType as SchemaLike;
    } else if (type === 'nullable') {
      nullable = true;
      current = def!.innerType as SchemaLike;
    } else if (type === 'pipe') {
      current = def!.in as SchemaLike;
    } else if (type === 'lazy') {
      current = (def!.getter as () => SchemaLike)();
    } else break;
  }
  return { schema: current, nullable };
}

/** The schemas that may apply at `path` below `schema` (several when the path crosses a union). */
function schemasAt(schema: SchemaLike, path: readonly Key[]): SchemaLike[] {
  let current: SchemaLike[] = [schema];
  for (const key of path) {
    const next: SchemaLike[] = [];
    for (const candidate of current.flatMap(options)) {
      const def = defOf(candidate);
      if (def?.type === 'object') {
        const shape = def.shape as Record<string, SchemaLike>;
        if (typeof key === 'string' && Object.hasOwn(shape, key)) next.push(shape[key]!);
      } else if (def?.type === 'array' && typeof key === 'number') {
        next.push(def.element as SchemaLike);
      } else if (def?.type === 'record') {
        next.push(def.valueType as SchemaLike);
      }
    }
    current = next;
  }
  return current;
}

/** The alternatives a schema accepts: the options of a union, or the schema itself. */
function options(schema: SchemaLike): SchemaLike[] {
  const inner = unwrap(schema).schema;
  if (typeOf(inner) === 'union' && inner.description === undefined) return (defOf(inner)!.options as SchemaLike[]).flatMap(options);
  return [inner];
}

function checksOf(schema: SchemaLike): Record<string, unknown>[] {
  const checks = (defOf(schema)?.checks ?? []) as SchemaLike[];
  return checks.map((check) => defOf(check) ?? {});
}

function describeNumber(schema: SchemaLike): string {
  const checks = checksOf(schema);
  const integer = schema.isInt === true;
  const min = schema.minValue;
  const max = schema.maxValue;
  const exclusiveMin = checks.some((check) => check.check === 'greater_than' && check.inclusive === false);
  const exclusiveMax = checks.some((check) => check.check === 'less_than' && check.inclusive === false);
  const noun = integer ? 'an integer' : 'a number';
  const hasMin = typeof min === 'number' && Number.isFinite(min) && !(integer && min <= Number.MIN_SAFE_INTEGER);
  const hasMax = typeof max === 'number' && Number.isFinite(max) && !(integer && max >= Number.MAX_SAFE_INTEGER);
  if (hasMin && hasMax && !exclusiveMin && !exclusiveMax) return `${noun} from ${min} to ${max}`;
  const bounds = [hasMin ? `${exclusiveMin ? '>' : '≥'} ${min}` : '', hasMax ? `${exclusiveMax ? '<' : '≤'} ${max}` : ''].filter(Boolean);
  return bounds.length === 0 ? noun : `${noun} ${bounds.join(' and ')}`;
}

function lengthBounds(schema: SchemaLike): { min?: number; max?: number } {
  let min: number | undefined;
  let max: number | undefined;
  for (const check of checksOf(schema)) {
    if (check.check === 'min_length') min = check.minimum as number;
    if (check.check === 'max_length') max = check.maximum as number;
    if (check.check === 'length_equals') min = max = check.length as number;
  }
  return { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
}

const stringFormats: Record<string, string> = {
  datetime: 'an ISO 8601 date-time string (2024-05-01T12:00:00Z)',
  date: 'an ISO 8601 date string (2024-05-01)',
  time: 'an ISO 8601 time string',
  duration: 'an ISO 8601 duration string',
  email: 'an email address',
  url: 'an absolute URL',
  uuid: 'a UUID',
};

/** A custom schema's own message, which by convention says what it wants ("a clock with now(), …"). */
function customExpectation(schema: SchemaLike): string {
  const error = defOf(schema)?.error;
  const message: unknown = typeof error === 'function' ? (error as (issue: object) => unknown)({ code: 'custom', input: undefined }) : undefined;
  return typeof message === 'string' && message !== '' ? message : 'a value of the documented kind';
}

/** A short type for a value inside a shape: `number`, `string[]`, `"a" | "b"`. */
function shortType(schema: SchemaLike, depth = 0): string {
  const { schema: inner, nullable } = unwrap(schema);
  const orNull = nullable ? ' | null' : '';
  if (inner.description !== undefined) return `${inner.description}${orNull}`;
  const def = defOf(inner);
  switch (def?.type) {
    case 'number':
      return (inner.isInt === true ? 'integer' : 'number') + orNull;
    case 'string':
    case 'boolean':
    case 'bigint':
      return def.type + orNull;
    case 'date':
      return 'Date' + orNull;
    case 'literal':
      return (def.values as unknown[]).map((value) => JSON.stringify(value)).join(' | ') + orNull;
    case 'enum':
      return Object.values(def.entries as Record<string, unknown>).map((value) => JSON.stringify(value)).join(' | ') + orNull;
    case 'array': {
      const element = shortType(def.element as SchemaLike, depth + 1);
      return (element.includes(' ') ? `(${element})[]` : `${element}[]`) + orNull;
    }
    case 'union':
      return (def.options as SchemaLike[]).map((option) => shortType(option, depth + 1)).join(' | ') + orNull;
    case 'object':
      return (depth >= 1 ? '{ … }' : shapeOf(inner, depth + 1)) + orNull;
    case 'record':
      return `{ [key: string]: ${shortType(def.valueType as SchemaLike, depth + 1)} }` + orNull;
    case 'custom':
      return customExpectation(inner) + orNull;
    case 'any':
    case 'unknown':
      return 'any value' + orNull;
    default:
      // Kinds the options and inputs of this library do not use (tuple, map, …): zod's name for them.
      return String(def?.type ?? 'a valid value') + orNull;
  }
}

/** An object schema as `{ delaysMs: integer[], jitter?: number }`. */
function shapeOf(schema: SchemaLike, depth = 0): string {
  const shape = defOf(schema)!.shape as Record<string, SchemaLike>;
  const fields = Object.entries(shape).map(([key, value]) => {
    const type = typeOf(value);
    const optional = type === 'optional' || type === 'default' || type === 'prefault';
    return `${key}${optional ? '?' : ''}: ${shortType(value, depth)}`;
  });
  return fields.length === 0 ? '{}' : `{ ${fields.join(', ')} }`;
}

/** What a value must be, in words: "an integer from 1 to 10000", "{ delaysMs: integer[] } or a function". */
export function describeSchema(schema: z.ZodType): string {
  return describeAny(schema as unknown as SchemaLike);
}

function describeAny(schema: SchemaLike): string {
  const alternatives = options(schema).map(describeOne);
  const nullable = unwrap(schema).nullable;
  const all = nullable ? [...alternatives, 'null'] : alternatives;
  return all.length <= 2 ? all.join(' or ') : `${all.slice(0, -1).join(', ')} or ${all.at(-1)}`;
}

function describeOne(schema: SchemaLike): string {
  const { schema: inner, nullable } = unwrap(schema);
  const orNull = nullable ? ' or null' : '';
  if (inner.description !== undefined) return inner.description + orNull;
  const def = defOf(inner);
  switch (def?.type) {
    case 'number':
      return describeNumber(inner) + orNull;
    case 'string': {
      const format = (def.format as string | undefined) ?? (checksOf(inner).find((check) => check.check === 'string_format' && check.format !== 'regex')?.format as string | undefined);
      if (format !== undefined) return (stringFormats[format] ?? `a string in ${format} format`) + orNull;
      const min = inner.minLength ?? 0;
      const max = inner.maxLength;
      const pattern = checksOf(inner).find((check) => check.check === 'string_format' && check.format === 'regex');
      const words = min > 0 && typeof max === 'number' ? `a string of ${min} to ${max} characters` : min > 0 ? 'a non-empty string' : typeof max === 'number' ? `a string of at most ${max} characters` : 'a string';
      return (pattern ? `${words} matching ${String(pattern.pattern)}` : words) + orNull;
    }
    case 'boolean':
      return 'true or false' + orNull;
    case 'date':
      return 'a Date' + orNull;
    case 'literal':
    case 'enum':
      return shortType(inner) + orNull;
    case 'array': {
      const { min, max } = lengthBounds(inner);
      const count = min !== undefined && max !== undefined ? `${min} to ${max} items` : min !== undefined ? `at least ${min}` : max !== undefined ? `at most ${max}` : '';
      return `an array of ${shortType(def.element as SchemaLike)}${count === '' ? '' : ` (${count})`}` + orNull;
    }
    case 'object':
      return shapeOf(inner) + orNull;
    case 'record': {
      const values = shortType(def.valueType as SchemaLike);
      return (values === 'any value' ? 'an object' : `an object of ${values} values`) + orNull;
    }
    case 'custom':
      return customExpectation(inner) + orNull;
    default:
      return shortType(inner) + orNull;
  }
}

/** The keys an object schema (or any object option of a union) accepts at `path`. */
function validKeysAt(schema: SchemaLike, path: readonly Key[]): string[] {
  const keys = new Set<string>();
  for (const candidate of schemasAt(schema, path).flatMap(options)) {
    const def = defOf(candidate);
    if (def?.type === 'object') for (const key of Object.keys(def.shape as object)) keys.add(key);
  }
  return [...keys];
}

const code = (text: string): string => `\`${text}\``;
const list = (values: readonly unknown[]): string => values.map((value) => (typeof value === 'string' ? JSON.stringify(value) : String(value))).join(', ');

/** The value at `path` of the input, or `undefined` when it is missing. */
function valueAt(input: unknown, path: readonly Key[]): unknown {
  let value = input;
  for (const key of path) {
    value = value !== null && typeof value === 'object' && Object.hasOwn(value, key) ? (value as Record<Key, unknown>)[key] : undefined;
  }
  return value;
}

function isMissing(input: unknown, path: readonly Key[]): boolean {
  if (path.length === 0) return input === undefined;
  const holder = valueAt(input, path.slice(0, -1));
  return holder !== null && typeof holder === 'object' && (valueAt(input, path) === undefined);
}

interface Frame {
  readonly schema: SchemaLike;
  readonly input: unknown;
  readonly prefix: readonly string[];
}

const fieldOf = (frame: Frame, path: readonly Key[]): string => [...frame.prefix, ...path.map(String)].join('.');

/** Orders issues so that the one most likely to be the cause comes first: an unknown key explains a missing one. */
function causeFirst(issues: readonly IssueLike[]): IssueLike[] {
  return [...issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'));
}

/** The field an issue points at: an unknown key is named itself. */
function issueField(frame: Frame, issue: IssueLike): string {
  const path = issue.code === 'unrecognized_keys' && issue.keys?.[0] !== undefined ? [...issue.path, issue.keys[0]] : issue.path;
  return fieldOf(frame, path);
}

function renderIssue(frame: Frame, issue: IssueLike): string {
  const field = fieldOf(frame, issue.path);
  const name = code(field || 'options');
  const received = valueAt(frame.input, issue.path);
  const here = schemasAt(frame.schema, issue.path);
  const expected = here.length > 0 ? here.map(describeAny).join(' or ') : undefined;

  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys ?? [];
      const valid = validKeysAt(frame.schema, issue.path);
      const where = field === '' ? '' : ` in ${name}`;
      const unknown = `Unknown key${keys.length === 1 ? '' : 's'} ${keys.map(code).join(', ')}${where}`;
      const hints = keys
        .map((key) => [key, closestName(key, valid)] as const)
        .filter((pair): pair is readonly [string, string] => pair[1] !== undefined)
        .map(([key, guess]) => (keys.length === 1 ? `did you mean ${code(guess)}?` : `${code(key)}: did you mean ${code(guess)}?`));
      const shown = valid.slice(0, MAX_KEYS_LISTED).join(', ') + (valid.length > MAX_KEYS_LISTED ? ', …' : '');
      return `${unknown}${hints.length > 0 ? ` (${hints.join('; ')})` : ''}${valid.length > 0 ? `; expected one of: ${shown}` : ''}`;
    }
    case 'invalid_union':
      return renderUnion(frame, issue, name, received, expected);
    case 'invalid_value': {
      const values = issue.values ?? [];
      if (isMissing(frame.input, issue.path)) return `${name} is required: expected ${values.length === 1 ? list(values) : `one of ${list(values)}`}`;
      const guess = typeof received === 'string' ? closestName(received, values.filter((value): value is string => typeof value === 'string')) : undefined;
      const allowed = values.length === 1 ? list(values) : `one of ${list(values)}`;
      return `Expected ${name} to be ${allowed}, got ${describeValue(received)}${guess === undefined ? '' : ` (did you mean ${JSON.stringify(guess)}?)`}`;
    }
    case 'invalid_type':
      if (isMissing(frame.input, issue.path)) return `${name} is required: expected ${expected ?? issue.expected}`;
      return `Expected ${name} to be ${expected ?? issue.expected}, got ${describeValue(received)}`;
    case 'too_small':
    case 'too_big':
      return `Expected ${name} to be ${expected ?? sizeWords(issue)}, got ${describeSize(issue, received)}`;
    case 'invalid_format':
      return `Expected ${name} to be ${expected ?? `a string matching ${issue.pattern ?? 'the format'}`}, got ${describeValue(received)}`;
    case 'custom':
      // A custom check's message says what it wanted ("a clock with now(), …").
      return `Expected ${name} to be ${issue.message === 'Invalid input' && expected !== undefined ? expected : issue.message}, got ${
        typeof issue.params?.got === 'string' ? issue.params.got : describeValue(received)
      }`;
    case 'invalid_key': {
      // The path ends at the key itself; what was wanted is the key schema's message.
      const key = issue.path[issue.path.length - 1];
      const record = code(fieldOf(frame, issue.path.slice(0, -1)) || 'options');
      const wanted = issue.issues?.[0]?.message ?? 'a valid key';
      return `Expected each key of ${record} to be ${wanted}, got ${describeValue(typeof key === 'symbol' ? key.toString() : key)}`;
    }
    default:
      return `Expected ${name} to be ${expected ?? 'valid'} (${issue.message}), got ${describeValue(received)}`;
  }
}

function sizeWords(issue: IssueLike): string {
  const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
  const relation = issue.code === 'too_small' ? (issue.inclusive === false ? '>' : '≥') : issue.inclusive === false ? '<' : '≤';
  if (issue.origin === 'array' || issue.origin === 'set') return `a list of ${relation} ${String(bound)} items`;
  if (issue.origin === 'string') return `a string of ${relation} ${String(bound)} characters`;
  return `${relation} ${String(bound)}`;
}

function describeSize(issue: IssueLike, received: unknown): string {
  if (typeof received === 'string' && issue.origin === 'string') return `a string of ${received.length} characters`;
  return describeValue(received);
}

/** The object options of a union with the issues each one raised (nested unions followed), aligned as zod reports them. */
function unionCandidates(schema: SchemaLike, errors: readonly (readonly IssueLike[])[]): { option: SchemaLike; errors: readonly IssueLike[] }[] {
  const inner = unwrap(schema).schema;
  if (typeOf(inner) !== 'union') return [];
  const direct = defOf(inner)!.options as SchemaLike[];
  return direct.flatMap((option, index) => {
    const own = errors[index] ?? [];
    const unwrapped = unwrap(option).schema;
    if (typeOf(unwrapped) === 'object' || typeOf(unwrapped) === 'array') return [{ option: unwrapped, errors: own }];
    const nested = own.length === 1 && own[0]!.code === 'invalid_union' && own[0]!.path.length === 0 ? own[0]!.errors : undefined;
    return nested === undefined ? [] : unionCandidates(unwrapped, nested);
  });
}

function renderUnion(frame: Frame, issue: IssueLike, name: string, received: unknown, expected: string | undefined): string {
  if (isMissing(frame.input, issue.path)) return `${name} is required: expected ${expected ?? 'a value'}`;
  const head = `Expected ${name} to be ${expected ?? 'one of the accepted shapes'}, got ${describeValue(received)}`;
  // The option the input was most likely meant as: the object shape sharing the most keys with it.
  if (received === null || typeof received !== 'object' || !issue.errors) return head;
  const kind = Array.isArray(received) ? 'array' : 'object';
  const given = Object.keys(received);
  let best: { option: SchemaLike; errors: readonly IssueLike[]; shared: number } | undefined;
  for (const union of schemasAt(frame.schema, issue.path)) {
    for (const candidate of unionCandidates(union, issue.errors)) {
      if (typeOf(candidate.option) !== kind) continue;
      const shared = kind === 'array' ? 1 : given.filter((key) => Object.hasOwn(defOf(candidate.option)!.shape as object, key)).length;
      if (shared > 0 && (best === undefined || shared > best.shared)) best = { ...candidate, shared };
    }
  }
  if (best === undefined || best.errors.length === 0) return head;
  const { option, errors } = best;
  const nested: Frame = { schema: option, input: received, prefix: [...frame.prefix, ...issue.path.map(String)] };
  const details = causeFirst(errors).map((inner) => renderIssue(nested, inner));
  return `${head}; read as ${kind === 'array' ? 'an array' : shapeOf(option)}: ${details.join('; ')}`;
}

/**
 * Renders the issues of a failed parse: every issue (up to five), the likely cause
 * first, each naming its path, what was expected and what came. `field` is the
 * path of the first.
 */
export function describeIssues(error: z.ZodError, input: unknown, options: DescribeIssuesOptions): { message: string; field: string } {
  const frame: Frame = { schema: options.schema as unknown as SchemaLike, input, prefix: options.prefix ? [options.prefix] : [] };
  const issues = causeFirst(error.issues as unknown as IssueLike[]);
  const first = issues[0];
  if (first === undefined) return { message: 'Invalid input', field: options.prefix ?? '' };
  const rendered = issues.slice(0, MAX_ISSUES).map((issue) => renderIssue(frame, issue));
  const more = issues.length > MAX_ISSUES ? [`${issues.length - MAX_ISSUES} more issue(s)`] : [];
  return { message: [...rendered, ...more].join('; '), field: issueField(frame, first) };
}
