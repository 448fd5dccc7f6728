/**
 * `jsonValueProblem`: whether a value goes through `JSON.stringify` and back unchanged,
 * and if not, where and why.
 *
 * `JSON.stringify` never refuses what it cannot write: `NaN` and `Infinity` become
 * `null`, a `Map` becomes `{}`, a function, a symbol or `undefined` disappears from an
 * object (and becomes `null` in an array), a symbol key is dropped, and a `__proto__`
 * key, which JSON can write, is dropped by every parser that copies keys into a plain
 * object (zod's records among them) and pollutes the prototype of code that merges it.
 * Stored data that was changed on the way in is worse than a refusal, so the callers
 * refuse such values with a coded error instead.
 */
import { loneSurrogate } from './storable-text.js';

/** Where a value has no faithful JSON form, and what was found there. */
export interface JsonValueProblem {
  /** Keys and indexes from the root to the value at fault; `[]` for the root itself. */
  readonly path: ReadonlyArray<string | number>;
  /** What was found, for the message: "NaN", "a Map", "a `__proto__` key", … */
  readonly found: string;
}

/** Options of {@link jsonValueProblem}. */
export interface JsonValueProblemOptions {
  /**
   * Also refuse, in strings and keys, what PostgreSQL `jsonb` cannot hold: U+0000 and a
   * lone surrogate (half of a UTF-16 pair; `jsonb` refuses its escape `\ud800`). For values
   * stored as `jsonb`, so that every storage takes or refuses the same value.
   */
  forJsonb?: boolean;
  /**
   * @deprecated The former name of {@link forJsonb}, which it now means: lone surrogates
   *   are refused too.
   */
  refuseNul?: boolean;
  /**
   * The key the value is written under, which JSON.stringify hands to its `toJSON`.
   * @defaultValue `''`, as for a value stringified on its own
   */
  key?: string;
}

/** A problem found below the root: its path is built on the way back up, never on the happy path. */
class Found {
  readonly path: Array<string | number> = [];
  constructor(readonly found: string) {}
}

function describeObject(value: object): string {
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a prototype';
}

/** What `jsonb` cannot hold in `text` (a string, or a key when `what` says so); `null`: nothing. */
function jsonbTextProblem(text: string, what: 'a string' | 'a key'): Found | null {
  if (text.includes('\u0000')) return new Found(`${what} with U+0000`);
  if (loneSurrogate.test(text)) return new Found(`${what} with a lone surrogate`);
  return null;
}

function check(value: unknown, key: string, ancestors: object[], forJsonb: boolean): Found | null {
  switch (typeof value) {
    case 'string':
      return forJsonb ? jsonbTextProblem(value, 'a string') : null;
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : new Found(String(value));
    case 'undefined':
      return new Found('undefined');
    case 'function':
      return new Found('a function');
    case 'symbol':
      return new Found('a symbol');
    case 'bigint':
      return new Found('a BigInt');
  }
  if (value === null) return null;
  let object = value as object;
  if (ancestors.includes(object)) return new Found('a reference cycle');
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    // JSON.stringify writes what toJSON returns (a Date its ISO string): that is the value's
    // JSON form, and what is checked. An invalid Date's toJSON gives null, not a date.
    if (object instanceof Date && Number.isNaN(object.getTime())) return new Found('an invalid Date');
    const json: unknown = (object as { toJSON: (key: string) => unknown }).toJSON(key);
    if (typeof json !== 'object' || json === null) return check(json, key, ancestors, forJsonb);
    if (ancestors.includes(json)) return new Found('a reference cycle');
    object = json;
  }
  if (!Array.isArray(object)) {
    const prototype: unknown = Object.getPrototypeOf(object);
    if (prototype !== Object.prototype && prototype !== null) return new Found(describeObject(object));
  }
  ancestors.push(object);
  try {
    if (Array.isArray(object)) {
      for (let index = 0; index < object.length; index++) {
        const found = check(object[index], String(index), ancestors, forJsonb);
        if (found !== null) {
          found.path.unshift(index);
          return found;
        }
      }
      return null;
    }
    for (const name of Object.keys(object)) {
      let found: Found | null;
      if (name === '__proto__') found = new Found('a `__proto__` key');
      else found = (forJsonb ? jsonbTextProblem(name, 'a key') : null) ?? check((object as Record<string, unknown>)[name], name, ancestors, forJsonb);
      if (found !== null) {
        found.path.unshift(name);
        return found;
      }
    }
    if (Object.getOwnPropertySymbols(object).some((symbol) => Object.prototype.propertyIsEnumerable.call(object, symbol))) {
      return new Found('a symbol key');
    }
    return null;
  } finally {
    ancestors.pop();
  }
}

/**
 * `null` when `value` is JSON as it is — plain objects, arrays, finite numbers, strings,
 * booleans and `null`, or an object whose `toJSON` returns such — else where it is not.
 * Refused: `undefined` anywhere (at the root, in an array, as a property's value),
 * functions, symbols (as values or keys), BigInts, `NaN` and `±Infinity`, an invalid
 * `Date`, instances of classes without `toJSON` (`Map`, `Set`, `RegExp`, …), a
 * `__proto__` key, and reference cycles; with `forJsonb`, also U+0000 and lone surrogates
 * in strings and keys.
 *
 * @throws whatever a `toJSON` method or a getter throws, and `RangeError` for nesting
 *   deeper than the stack; callers turn both into their coded error.
 */
export function jsonValueProblem(value: unknown, options: JsonValueProblemOptions = {}): JsonValueProblem | null {
  return check(value, options.key ?? '', [], options.forJsonb === true || options.refuseNul === true);
}

/**
 * `null` unless a plain object in `value` (at any depth, through arrays and plain
 * objects) has an own `__proto__` key; then its path. For the input of a schema whose
 * output no longer shows the key (zod drops it when it copies keys).
 */
export function protoKeyProblem(value: unknown): JsonValueProblem | null {
  return findProtoKey(value, []);
}

function findProtoKey(value: unknown, ancestors: object[]): Found | null {
  if (typeof value !== 'object' || value === null || ancestors.includes(value)) return null;
  if (!Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return null;
  ancestors.push(value);
  try {
    const keys = Object.keys(value);
    for (const key of keys) {
      const found = key === '__proto__' ? new Found('a `__proto__` key') : findProtoKey((value as Record<string, unknown>)[key], ancestors);
      if (found !== null) {
        found.path.unshift(Array.isArray(value) ? Number(key) : key);
        return found;
      }
    }
    return null;
  } finally {
    ancestors.pop();
  }
}

/** What {@link jsonCopy} gives: the copy, or where the value has no faithful JSON form. */
export type JsonCopy = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problem: JsonValueProblem };

/**
 * The JSON form of `value` as a new plain value — what `JSON.parse(JSON.stringify(value))`
 * gives — built in one walk that reads each property (and calls each `toJSON`) once, or
 * where `value` has no faithful JSON form (the refusals of {@link jsonValueProblem}, with the
 * same options). Checking a value, then serialising it, reads it twice: a getter (or a
 * `toJSON`) that answers differently the second time would have one value checked and
 * another stored. The copy is what was checked.
 *
 * @throws whatever a `toJSON` method or a getter throws, and `RangeError` for nesting
 *   deeper than the stack; callers turn both into their coded error.
 */
export function jsonCopy(value: unknown, options: JsonValueProblemOptions = {}): JsonCopy {
  try {
    return { ok: true, value: copyOf(value, options.key ?? '', [], options.forJsonb === true || options.refuseNul === true) };
  } catch (error) {
    if (error instanceof Found) return { ok: false, problem: { path: error.path, found: error.found } };
    throw error;
  }
}

/** {@link check}, building the copy: throws a `Found` where `check` returns one. */
function copyOf(value: unknown, key: string, ancestors: object[], forJsonb: boolean): unknown {
  switch (typeof value) {
    case 'string': {
      const found = forJsonb ? jsonbTextProblem(value, 'a string') : null;
      if (found !== null) throw found;
      return value;
    }
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new Found(String(value));
      // JSON writes -0 as 0.
      return value === 0 ? 0 : value;
    case 'undefined':
      throw new Found('undefined');
    case 'function':
      throw new Found('a function');
    case 'symbol':
      throw new Found('a symbol');
    case 'bigint':
      throw new Found('a BigInt');
  }
  if (value === null) return null;
  let object = value as object;
  if (ancestors.includes(object)) throw new Found('a reference cycle');
  const toJSON: unknown = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    if (object instanceof Date && Number.isNaN(object.getTime())) throw new Found('an invalid Date');
    const json: unknown = toJSON.call(object, key);
    if (typeof json !== 'object' || json === null) return copyOf(json, key, ancestors, forJsonb);
    if (ancestors.includes(json)) throw new Found('a reference cycle');
    object = json;
  }
  const isArray = Array.isArray(object);
  if (!isArray) {
    const prototype: unknown = Object.getPrototypeOf(object);
    if (prototype !== Object.prototype && prototype !== null) throw new Found(describeObject(object));
  }
  ancestors.push(object);
  try {
    if (isArray) {
      const array = object as unknown[];
      const length = array.length;
      const copy: unknown[] = [];
      for (let index = 0; index < length; index++) {
        try {
          copy.push(copyOf(array[index], String(index), ancestors, forJsonb));
        } catch (error) {
          if (error instanceof Found) error.path.unshift(index);
          throw error;
        }
      }
      return copy;
    }
    const copy: Record<string, unknown> = {};
    for (const name of Object.keys(object)) {
      try {
        if (name === '__proto__') throw new Found('a `__proto__` key');
        const found = forJsonb ? jsonbTextProblem(name, 'a key') : null;
        if (found !== null) throw found;
        copy[name] = copyOf((object as Record<string, unknown>)[name], name, ancestors, forJsonb);
      } catch (error) {
        if (error instanceof Found) error.path.unshift(name);
        throw error;
      }
    }
    if (Object.getOwnPropertySymbols(object).some((symbol) => Object.prototype.propertyIsEnumerable.call(object, symbol))) {
      throw new Found('a symbol key');
    }
    return copy;
  } finally {
    ancestors.pop();
  }
}
