/**
 * `validatePayloadFilter`: checks a filter given by a user against the language of
 * payload-filter.ts (its header is the contract) and builds its validated copy and
 * canonical text. `payloadFilterFromText` does the same for a stored text.
 *
 * The copy is built from what was read, one property read each: a getter or a `toJSON`
 * cannot make the canonical text differ from what was checked. Work is bounded by the
 * limits, checked before each descent: a cycle stops at the depth limit, a long list at
 * its length.
 */
import { ValidationError, closestName, describeValue } from '../errors.js';
import { metadataKeyPattern } from '../event-metadata.js';
import type { PayloadFilter, PayloadFilterLiteral } from './payload-filter.js';

const maxLogicalDepth = 8;
const maxPathConditions = 64;
const maxCanonicalBytes = 8192;
const maxPathSegments = 16;
const maxPathLength = 256;
const maxStringLength = 1024;
const maxListLength = 256;

const roots = new Set(['type', 'timestamp', 'metadata', 'data']);
const logicalOperators = ['$and', '$or', '$not'];
const operators = ['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists'];
const literalExpected = 'a string, a finite number, a boolean or null';
const pathExpected = 'a path (`type`, `timestamp`, `metadata`, `metadata.<key>`, `data` or `data.<field>…`) or $and, $or, $not';

function refuse(field: string, message: string): never {
  throw new ValidationError('PAYLOAD_FILTER_INVALID', message, { field });
}

/** What came, for a message: describeValue, with the values JSON has no form for named plainly. */
function describeFound(value: unknown): string {
  if (typeof value === 'bigint') return `a BigInt (${value}n)`;
  if (typeof value === 'string' && value.length > maxStringLength) return `a string of ${value.length} characters`;
  // describeValue shows a Date as its ISO string, which would read as if a string had come.
  if (value instanceof Date) return `a Date (${describeValue(value)})`;
  return describeValue(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function refuseSymbolKeys(value: object, field: string): void {
  if (Object.getOwnPropertySymbols(value).some((symbol) => Object.prototype.propertyIsEnumerable.call(value, symbol))) {
    refuse(field, `Expected \`${field}\` to be a plain JSON object, got one with a symbol key`);
  }
}

interface Walk {
  conditions: number;
}

function checkPath(path: string, parentField: string, field: string): void {
  if (path === '') refuse(field, `Expected each key of \`${parentField}\` to be ${pathExpected}, got an empty key`);
  if (path.length > maxPathLength) refuse(field, `Expected a path of at most ${maxPathLength} characters at \`${parentField}\`, got one of ${path.length}`);
  const segments = path.split('.');
  if (segments.includes('')) {
    refuse(field, `Expected the path ${JSON.stringify(path)} to have no empty segment (segments are separated by single dots, with none at either end)`);
  }
  const root = segments[0]!;
  if (!roots.has(root)) {
    refuse(field, `Expected each key of \`${parentField}\` to be ${pathExpected}, got ${JSON.stringify(path)}: a path starts at \`type\`, \`timestamp\`, \`metadata\` or \`data\``);
  }
  if (root === 'metadata' && segments.length > 2) {
    // A metadata key holds no `.` and its value is a string: one segment names it, a second finds nothing.
    refuse(field, `Expected the path ${JSON.stringify(path)} to stop at \`metadata.${segments[1]!}\`: metadata is flat (keys without \`.\`, string values)`);
  }
  if (root === 'metadata' && segments.length === 2 && !metadataKeyPattern.test(segments[1]!)) {
    // No event can carry such a key (publish refuses it): the path is a mistake, not a filter that never matches.
    refuse(field, `Expected the path ${JSON.stringify(path)} to name a metadata key (1 to 40 letters, digits, \`_\` or \`-\`)`);
  }
  if (root !== 'data' && root !== 'metadata' && segments.length > 1) {
    refuse(field, `Expected the path ${JSON.stringify(path)} to stop at \`${root}\`: it is a string, with no fields (only \`data\` and \`metadata\` have segments)`);
  }
  if (segments.length > maxPathSegments) {
    refuse(field, `Expected a path of at most ${maxPathSegments} segments, got ${JSON.stringify(path)} with ${segments.length}`);
  }
}

function checkLiteral(value: unknown, field: string, context: string, inList = false): PayloadFilterLiteral {
  if (typeof value === 'string') {
    if (value.length > maxStringLength) refuse(field, `Expected \`${field}\` to be a string of at most ${maxStringLength} characters, got one of ${value.length}`);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) refuse(field, `Expected \`${field}\` to be ${context}, got ${describeFound(value)} (JSON has no form for it)`);
    return value;
  }
  if (typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value) || isPlainObject(value)) {
    const hint = inList ? '' : Array.isArray(value) ? ' (use $in, or a path with an index)' : ' (test its fields by their paths)';
    refuse(field, `Expected \`${field}\` to be ${context}, got ${describeFound(value)}: arrays and objects are not compared${hint}`);
  }
  return refuse(field, `Expected \`${field}\` to be ${context}, got ${describeFound(value)}`);
}

function checkList(value: unknown, field: string): PayloadFilterLiteral[] {
  const expected = `a non-empty array of at most ${maxListLength} literals (${literalExpected})`;
  if (!Array.isArray(value)) refuse(field, `Expected \`${field}\` to be ${expected}, got ${describeFound(value)}`);
  // Read once: a proxy's length may change between reads, and the copy must be the list checked.
  const length = value.length;
  if (length === 0 || length > maxListLength) refuse(field, `Expected \`${field}\` to be ${expected}, got ${describeFound(value)}`);
  const list: PayloadFilterLiteral[] = [];
  // An index loop, not map: map skips the holes of a sparse array, which JSON would write as null.
  for (let index = 0; index < length; index++) list.push(checkLiteral(value[index], `${field}[${index}]`, literalExpected, true));
  return list;
}

function checkOrderingOperand(value: unknown, field: string): number | string {
  if (typeof value === 'number' || typeof value === 'string') return checkLiteral(value, field, 'a finite number or a string') as number | string;
  return refuse(field, `Expected \`${field}\` to be a finite number or a string, got ${describeFound(value)}`);
}

function checkCondition(value: unknown, path: string, field: string): unknown {
  if (!isPlainObject(value)) return checkLiteral(value, field, `${literalExpected}, or an object of operators (${operators.join(', ')})`);
  refuseSymbolKeys(value, field);
  const keys = Object.keys(value);
  if (keys.length === 0) refuse(field, `Expected \`${field}\` to be a literal or an object of operators (${operators.join(', ')}), got an empty object`);
  const plainKey = keys.find((key) => !key.startsWith('$'));
  if (plainKey !== undefined) {
    if (keys.some((key) => key.startsWith('$'))) {
      refuse(field, `Expected \`${field}\` to be an object of operators only, got one mixing operators with the key ${JSON.stringify(plainKey)}`);
    }
    const hint = path === 'data' || path.startsWith('data.') || path === 'metadata' ? ` (test a field inside it by its path, as \`${path}.${plainKey}\`)` : '';
    refuse(field, `Expected \`${field}\` to be a literal or an object of operators, got ${describeFound(value)}: objects are not compared${hint}`);
  }
  const checked: Record<string, unknown> = {};
  for (const operator of keys) {
    const operand = value[operator];
    const operandField = `${field}.${operator}`;
    switch (operator) {
      case '$eq':
      case '$ne':
        checked[operator] = checkLiteral(operand, operandField, literalExpected);
        break;
      case '$in':
      case '$nin':
        checked[operator] = checkList(operand, operandField);
        break;
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        checked[operator] = checkOrderingOperand(operand, operandField);
        break;
      case '$exists':
        if (typeof operand !== 'boolean') refuse(operandField, `Expected \`${operandField}\` to be true or false, got ${describeFound(operand)}`);
        checked[operator] = operand;
        break;
      default: {
        const meant = closestName(operator, operators);
        const hint = logicalOperators.includes(operator)
          ? ` (${operator} combines filters: put it beside the paths, not under one)`
          : meant === undefined
            ? ''
            : ` (did you mean ${meant}?)`;
        refuse(operandField, `Expected an operator of ${operators.join(', ')} at \`${field}\`, got ${JSON.stringify(operator)}${hint}`);
      }
    }
  }
  return checked;
}

function checkFilter(value: unknown, field: string, depth: number, walk: Walk): PayloadFilter {
  if (!isPlainObject(value)) refuse(field, `Expected \`${field}\` to be a filter object (paths to conditions, $and, $or, $not), got ${describeFound(value)}`);
  refuseSymbolKeys(value, field);
  const keys = Object.keys(value);
  if (keys.length === 0) refuse(field, `Expected \`${field}\` to hold at least one condition, got an empty filter (a subscription without a filter has filter: null)`);
  const checked: Record<string, unknown> = {};
  for (const key of keys) {
    const child = value[key];
    const childField = `${field}.${key}`;
    if (key === '$and' || key === '$or' || key === '$not') {
      if (depth >= maxLogicalDepth) refuse(childField, `Expected logical operators nested at most ${maxLogicalDepth} deep, got a ${maxLogicalDepth + 1}th at \`${childField}\``);
      if (key === '$not') {
        checked[key] = checkFilter(child, childField, depth + 1, walk);
        continue;
      }
      if (!Array.isArray(child) || child.length === 0) refuse(childField, `Expected \`${childField}\` to be a non-empty array of filters, got ${describeFound(child)}`);
      const filters: PayloadFilter[] = [];
      for (let index = 0; index < child.length; index++) filters.push(checkFilter(child[index], `${childField}[${index}]`, depth + 1, walk));
      checked[key] = filters;
      continue;
    }
    if (key.startsWith('$')) {
      const hint = operators.includes(key)
        ? ` (${key} is an operator: put it under a path, as { "data.amount": { "${key}": … } })`
        : closestName(key, logicalOperators) === undefined
          ? ''
          : ` (did you mean ${closestName(key, logicalOperators)}?)`;
      refuse(childField, `Expected each key of \`${field}\` to be ${pathExpected}, got ${JSON.stringify(key)}${hint}`);
    }
    checkPath(key, field, childField);
    walk.conditions++;
    if (walk.conditions > maxPathConditions) refuse(childField, `Expected at most ${maxPathConditions} path conditions in a filter, got a ${maxPathConditions + 1}th at \`${childField}\``);
    checked[key] = checkCondition(child, key, childField);
  }
  return checked as PayloadFilter;
}

function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      index++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The validated copy of a user's filter and its canonical text.
 * @throws ValidationError `PAYLOAD_FILTER_INVALID`, `field` under the given one (the given one
 *   itself when reading the value threw: a getter, a proxy).
 */
export function validatePayloadFilter(value: unknown, field: string): { filter: PayloadFilter; text: string } {
  let filter: PayloadFilter;
  try {
    filter = checkFilter(value, field, 0, { conditions: 0 });
  } catch (error) {
    if (error instanceof ValidationError && error.code === 'PAYLOAD_FILTER_INVALID') throw error;
    // A getter or a proxy trap of the caller's object threw while it was read.
    throw new ValidationError('PAYLOAD_FILTER_INVALID', `Expected \`${field}\` to be plain JSON, got an object whose reading threw: ${String((error as Error)?.message ?? error)}`, {
      field,
      cause: error,
    });
  }
  const text = JSON.stringify(filter);
  const bytes = utf8ByteLength(text);
  if (bytes > maxCanonicalBytes) refuse(field, `Expected \`${field}\` to be at most ${maxCanonicalBytes} bytes as JSON, got ${bytes}`);
  return { filter, text };
}

/**
 * The filter of a JSON text, validated as a user's filter is.
 * @throws ValidationError `PAYLOAD_FILTER_INVALID` for what is not text, not JSON, or not a valid filter.
 */
export function payloadFilterFromText(json: unknown, field: string): PayloadFilter {
  if (typeof json !== 'string') refuse(field, `Expected the JSON text of a filter, got ${describeFound(json)}`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    refuse(field, `Expected the JSON text of a filter, got text that is not JSON (${(error as Error).message})`);
  }
  return validatePayloadFilter(value, field).filter;
}
