/**
 * `compilePayloadFilter`: a validated payload filter (payload-filter.ts has the contract)
 * turned into closures, once, so that evaluating it at publish — once per event and
 * filtered subscription — only reads the document: paths are split, array indexes parsed,
 * `$in` lists made sets and timestamp operands read to instants ahead of time. An
 * evaluation allocates nothing; the one thing it parses is a string value compared with a
 * timestamp operand, since that value is only known then. A value with a `toJSON` on the
 * path (a `Date` in the data being published) is read as its JSON form, what the body holds.
 */
import type { FilterDocument, PayloadFilter, PayloadFilterCondition, PayloadFilterLiteral, PayloadFilterOperators } from './payload-filter.js';
import { rfc3339InstantMs } from './rfc3339-instant.js';

type Test = (document: FilterDocument) => boolean;
type ValueTest = (value: unknown) => boolean;
/** The order of a value against an operand: negative, zero or positive; `NaN` when they do not compare. */
type Order = (value: unknown) => number;

/** What a path resolves to when it finds nothing: distinct from every JSON value, `null` included. */
const missing: unique symbol = Symbol('missing');

/** The largest array index JavaScript has (2³² − 2): a longer segment indexes nothing. */
const maxArrayIndex = 4_294_967_294;
const indexPattern = /^(0|[1-9][0-9]*)$/;

type Read = (document: FilterDocument) => unknown;

/**
 * A value as the envelope holds it: what its `toJSON` returns, called with its key as
 * JSON.stringify calls it (a `Date` of the published data is its ISO string in the body).
 */
function sent(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON: (key: string) => unknown }).toJSON(key) : value;
}

function reader(path: string): Read {
  const [root, ...keys] = path.split('.') as ['type' | 'timestamp' | 'metadata' | 'data', ...string[]];
  if (keys.length === 0) {
    return (document) => {
      const value = sent(document[root], root);
      return value === undefined ? missing : value;
    };
  }
  // Per segment, the array index it names, or -1 when it names none (it still names an object key).
  const indexes = keys.map((key) => (indexPattern.test(key) && Number(key) <= maxArrayIndex ? Number(key) : -1));
  // A JSON object inherits only from Object.prototype: a key it does not hold is read as
  // undefined, unless Object.prototype has it (`constructor`, `toString`, `__proto__`), and
  // only those keys pay for an own-property check.
  const inherited = keys.map((key) => key in Object.prototype);
  const count = keys.length;
  return (document) => {
    let value: unknown = sent(document[root], root);
    for (let at = 0; at < count; at++) {
      if (typeof value !== 'object' || value === null) return missing;
      if (Array.isArray(value)) {
        const index = indexes[at]!;
        if (index < 0 || index >= value.length) return missing;
        value = value[index];
      } else if (inherited[at]!) {
        const key = keys[at]!;
        if (!Object.hasOwn(value, key)) return missing;
        value = (value as Record<string, unknown>)[key];
      } else {
        value = (value as Record<string, unknown>)[keys[at]!];
      }
      value = sent(value, keys[at]!);
    }
    // JSON has no undefined: a property holding it is not sent, so it is missing.
    return value === undefined ? missing : value;
  };
}

function stringOrder(operand: string): Order {
  return (value) => (typeof value !== 'string' ? Number.NaN : value < operand ? -1 : value > operand ? 1 : 0);
}

function order(operand: number | string): Order {
  if (typeof operand === 'number') return (value) => (typeof value === 'number' ? value - operand : Number.NaN);
  const operandMs = rfc3339InstantMs(operand);
  if (Number.isNaN(operandMs)) return stringOrder(operand);
  const byText = stringOrder(operand);
  return (value) => {
    if (typeof value !== 'string') return Number.NaN;
    const valueMs = rfc3339InstantMs(value);
    return Number.isNaN(valueMs) ? byText(value) : valueMs - operandMs;
  };
}

function operatorTest(operator: keyof PayloadFilterOperators, operand: unknown): ValueTest {
  switch (operator) {
    case '$eq':
      return (value) => value === operand;
    case '$ne':
      return (value) => value !== operand;
    case '$in': {
      const set = new Set(operand as readonly PayloadFilterLiteral[]);
      return (value) => set.has(value as PayloadFilterLiteral);
    }
    case '$nin': {
      const set = new Set(operand as readonly PayloadFilterLiteral[]);
      return (value) => !set.has(value as PayloadFilterLiteral);
    }
    case '$gt': {
      const compare = order(operand as number | string);
      return (value) => compare(value) > 0;
    }
    case '$gte': {
      const compare = order(operand as number | string);
      return (value) => compare(value) >= 0;
    }
    case '$lt': {
      const compare = order(operand as number | string);
      return (value) => compare(value) < 0;
    }
    case '$lte': {
      const compare = order(operand as number | string);
      return (value) => compare(value) <= 0;
    }
    case '$exists':
      return operand === true ? (value) => value !== missing : (value) => value === missing;
  }
}

function conditionTest(path: string, condition: PayloadFilterCondition): Test {
  const read = reader(path);
  if (typeof condition !== 'object' || condition === null) return (document) => read(document) === condition;
  const tests = (Object.keys(condition) as Array<keyof PayloadFilterOperators>).map((operator) => operatorTest(operator, condition[operator]));
  if (tests.length === 1) {
    const test = tests[0]!;
    return (document) => test(read(document));
  }
  return (document) => {
    const value = read(document);
    for (let at = 0; at < tests.length; at++) if (!tests[at]!(value)) return false;
    return true;
  };
}

function every(tests: readonly Test[]): Test {
  if (tests.length === 1) return tests[0]!;
  return (document) => {
    for (let at = 0; at < tests.length; at++) if (!tests[at]!(document)) return false;
    return true;
  };
}

function some(tests: readonly Test[]): Test {
  if (tests.length === 1) return tests[0]!;
  return (document) => {
    for (let at = 0; at < tests.length; at++) if (tests[at]!(document)) return true;
    return false;
  };
}

function filterTest(filter: PayloadFilter): Test {
  const tests: Test[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and') tests.push(every((value as readonly PayloadFilter[]).map(filterTest)));
    else if (key === '$or') tests.push(some((value as readonly PayloadFilter[]).map(filterTest)));
    else if (key === '$not') {
      const test = filterTest(value as PayloadFilter);
      tests.push((document) => !test(document));
    } else tests.push(conditionTest(key, value as PayloadFilterCondition));
  }
  return every(tests);
}

/** The matcher of a filter already validated (validatePayloadFilter): true when the document matches. */
export function compilePayloadFilter(filter: PayloadFilter): (document: FilterDocument) => boolean {
  return filterTest(filter);
}
