/**
 * `eventDataCheck`: what `publish` checks of `data` beyond its schema, so that the stored
 * event is the data as given, or a coded refusal — never a changed copy.
 *
 * A schema can let through what JSON cannot hold (`z.any()` takes a `Map`, `NaN`, a
 * function), and zod drops a `__proto__` key wherever it copies keys (a record, a loose
 * object, a catchall) and strips it from an object. Walking every payload for these would
 * cost publish, a hot path, a second pass over data it already serialises once; so the
 * check is planned once per schema from its structure, and only the parts of the data that
 * such a schema part governs are looked at:
 * - a string, number, boolean, enum, literal or date, and an array or strict object made
 *   only of those, can hold nothing wrong: no check at all;
 * - an object other than a strict one, and a record, are checked for an own `__proto__` key
 *   in the input (one lookup), then per property where a property's schema needs it;
 * - anything the planner cannot see through (`any`, `unknown`, `custom`, a transform, a
 *   pipe, a lazy or recursive schema, a union of objects, …) gets the whole walk of
 *   `jsonValueProblem` over its output, and a search for `__proto__` keys in its input.
 * For Bookkeeper's own catalog the check is one `__proto__` lookup in `metadata`.
 *
 * `undefined` as the value of a property whose schema is optional (`.optional()`,
 * `.nullish()`) is accepted: JSON's way to write it is to leave the key out, which is
 * what the schema means by optional. Anywhere else — the data itself, an array element, a
 * record's value, a property under `z.any()` — it has no JSON form and is refused.
 */
import type { z } from 'zod';
import { jsonValueProblem, protoKeyProblem, type JsonValueProblem } from '../json-value-problem.js';

/**
 * Checks a parse's input and output; `null` when the output is stored as it was given.
 * `key` is what the output is written under in its parent (`"data"` for the data itself):
 * JSON.stringify hands it to a `toJSON`.
 */
export type EventDataCheck = (input: unknown, output: unknown, key: string) => JsonValueProblem | null;

/** The parts of a zod 4 definition the planner reads. */
interface Definition {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  element?: z.ZodType;
  items?: z.ZodType[];
  rest?: z.ZodType | null;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  innerType?: z.ZodType;
  options?: z.ZodType[];
  values?: unknown[];
}

function definitionOf(schema: z.ZodType): Definition | null {
  const definition = (schema as { _zod?: { def?: unknown } })._zod?.def;
  return typeof definition === 'object' && definition !== null && typeof (definition as Definition).type === 'string'
    ? (definition as Definition)
    : null;
}

function isOptionalOut(schema: z.ZodType): boolean {
  return (schema as { _zod?: { optout?: unknown } })._zod?.optout === 'optional';
}

const hasOwn = (value: unknown, key: string): boolean => typeof value === 'object' && value !== null && Object.hasOwn(value, key);

const protoKey = (): JsonValueProblem => ({ path: ['__proto__'], found: 'a `__proto__` key' });
const undefinedValue: JsonValueProblem = Object.freeze({ path: Object.freeze([]), found: 'undefined' });

/** The whole walk, for a schema part the planner cannot see through. */
const walkAll: EventDataCheck = (input, output, key) => jsonValueProblem(output, { key }) ?? (input === output ? null : protoKeyProblem(input));

function prefixed(key: string | number, problem: JsonValueProblem): JsonValueProblem {
  return { path: [key, ...problem.path], found: problem.found };
}

const leafTypes = new Set(['string', 'number', 'boolean', 'null', 'enum', 'template_literal', 'date', 'bigint']);

function isJsonLiteral(value: unknown): boolean {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

/** `null` when nothing in the schema's output can differ from its JSON, else its check. */
function plan(schema: z.ZodType, planning: Set<z.ZodType>): EventDataCheck | null {
  const definition = definitionOf(schema);
  // Another zod, or a schema that contains itself (a getter in a shape): walk it all.
  if (definition === null || planning.has(schema)) return walkAll;
  if (leafTypes.has(definition.type)) return null;
  planning.add(schema);
  try {
    return planDefinition(definition, planning);
  } finally {
    planning.delete(schema);
  }
}

function planDefinition(definition: Definition, planning: Set<z.ZodType>): EventDataCheck | null {
  switch (definition.type) {
    case 'literal':
      return (definition.values ?? []).every(isJsonLiteral) ? null : walkAll;
    case 'nullable': {
      const inner = plan(definition.innerType!, planning);
      return inner === null ? null : (input, output, key) => (output === null ? null : inner(input, output, key));
    }
    case 'optional': {
      // Reached only outside an object's properties (those are handled by the object).
      const inner = plan(definition.innerType!, planning);
      return (input, output, key) => (output === undefined ? undefinedValue : inner === null ? null : inner(input, output, key));
    }
    case 'readonly':
    case 'nonoptional':
      return plan(definition.innerType!, planning);
    case 'array': {
      const element = plan(definition.element!, planning);
      if (element === null) return null;
      return (input, output) => {
        const items = output as unknown[];
        for (let index = 0; index < items.length; index++) {
          const problem = element((input as unknown[])[index], items[index], String(index));
          if (problem !== null) return prefixed(index, problem);
        }
        return null;
      };
    }
    case 'tuple': {
      const items = (definition.items ?? []).map((item) => plan(item, planning));
      const rest = definition.rest ? plan(definition.rest, planning) : null;
      if (rest === null && items.every((item) => item === null)) return null;
      return (input, output) => {
        const values = output as unknown[];
        for (let index = 0; index < values.length; index++) {
          const item = index < items.length ? items[index]! : rest;
          const problem = item === null ? null : item((input as unknown[])[index], values[index], String(index));
          if (problem !== null) return prefixed(index, problem);
        }
        return null;
      };
    }
    case 'union': {
      // Which option matched is not known here: all plain, or the whole walk.
      const options = (definition.options ?? []).map((option) => plan(option, planning));
      return options.every((option) => option === null) ? null : walkAll;
    }
    case 'record':
      return planRecord(definition, planning);
    case 'object':
      return planObject(definition, planning);
    default:
      return walkAll;
  }
}

function planRecord(definition: Definition, planning: Set<z.ZodType>): EventDataCheck {
  const keyDefinition = definition.keyType === undefined ? null : definitionOf(definition.keyType);
  // Keys other than strings (symbols) have no JSON form: the whole walk refuses them.
  if (keyDefinition === null || !['string', 'enum', 'literal', 'template_literal'].includes(keyDefinition.type)) return walkAll;
  const value = plan(definition.valueType!, planning);
  return (input, output) => {
    if (hasOwn(input, '__proto__')) return protoKey();
    if (value === null) return null;
    for (const key of Object.keys(output as object)) {
      const problem = value((input as Record<string, unknown>)[key], (output as Record<string, unknown>)[key], key);
      if (problem !== null) return prefixed(key, problem);
    }
    return null;
  };
}

function planObject(definition: Definition, planning: Set<z.ZodType>): EventDataCheck | null {
  const shape = definition.shape ?? {};
  const catchallType = definition.catchall === undefined ? undefined : definitionOf(definition.catchall)?.type;
  // A strict object reports a `__proto__` key itself (an unrecognized key).
  const strict = catchallType === 'never';
  const catchall = definition.catchall === undefined || strict ? null : plan(definition.catchall, planning);
  const properties: Array<{ key: string; check: EventDataCheck; optional: boolean }> = [];
  for (const key of Object.keys(shape)) {
    const property = shape[key]!;
    const check = plan(property, planning);
    // z.undefined() and z.void() as a property mean "absent" just as .optional() does.
    const optional = isOptionalOut(property) || ['undefined', 'void'].includes(definitionOf(property)?.type ?? '');
    if (check !== null) properties.push({ key, check, optional });
  }
  if (strict && properties.length === 0) return null;
  return (input, output) => {
    if (!strict && hasOwn(input, '__proto__')) return protoKey();
    const given = input as Record<string, unknown>;
    const result = output as Record<string, unknown>;
    for (let index = 0; index < properties.length; index++) {
      const { key, check, optional } = properties[index]!;
      const value = result[key];
      // An optional property left undefined, or one not given at all, is simply absent.
      if (value === undefined && (optional || !(key in given))) continue;
      const problem = check(given[key], value, key);
      if (problem !== null) return prefixed(key, problem);
    }
    if (catchall !== null) {
      for (const key of Object.keys(result)) {
        if (Object.hasOwn(shape, key)) continue;
        const problem = catchall(given[key], result[key], key);
        if (problem !== null) return prefixed(key, problem);
      }
    }
    return null;
  };
}

/**
 * The check `publish` runs on a parse of `schema` that succeeded, or `null` when the
 * schema can only produce JSON as it is (nothing to run). Planned once per schema.
 *
 * @internal
 */
export function eventDataCheck(schema: z.ZodType): EventDataCheck | null {
  return plan(schema, new Set());
}
