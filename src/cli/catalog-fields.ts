/**
 * The fields of an event type, for `catalog list`: read from the type's exported JSON
 * Schema (so the list and the published contract cannot differ), nested objects
 * flattened into dotted paths (`amount.currency`), array items as `lines[].amount`.
 */
import type { JsonDocument } from '../events/export-catalog.js';

/** One field of an event's `data`. */
export interface CatalogField {
  /** Dotted path in `data`: `amount.currency`, `lines[].description`. */
  path: string;
  /** A short type: `string`, `integer`, `date-time`, `card|cash`, `string|null`, `string[]`, `object`. */
  type: string;
  required: boolean;
}

type Schema = JsonDocument;

/** The fields of `schema.properties.data`, in schema order. */
export function catalogFields(schema: Schema): CatalogField[] {
  const data = (schema.properties as Record<string, Schema> | undefined)?.data;
  const fields: CatalogField[] = [];
  if (data !== undefined) collect(schema, resolve(schema, data), '', fields, 0);
  return fields;
}

// Deep enough for any event shape; a recursive schema stops here instead of looping.
const MAX_DEPTH = 6;

function collect(root: Schema, schema: Schema, prefix: string, fields: CatalogField[], depth: number): void {
  const properties = schema.properties as Record<string, Schema> | undefined;
  if (properties === undefined) return;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  for (const [name, property] of Object.entries(properties)) {
    const path = prefix + name;
    const resolved = resolve(root, property);
    const nested = objectWithProperties(root, resolved);
    const items = resolved.type === 'array' && resolved.items !== undefined ? objectWithProperties(root, resolve(root, resolved.items as Schema)) : undefined;
    if (nested !== undefined && depth < MAX_DEPTH) {
      fields.push({ path, type: label(root, resolved), required: required.has(name) });
      collect(root, nested, `${path}.`, fields, depth + 1);
    } else if (items !== undefined && depth < MAX_DEPTH) {
      fields.push({ path, type: 'object[]', required: required.has(name) });
      collect(root, items, `${path}[].`, fields, depth + 1);
    } else {
      fields.push({ path, type: label(root, resolved), required: required.has(name) });
    }
  }
}

/** The object schema with properties inside `schema` (itself, or the object branch of `X | null`). */
function objectWithProperties(root: Schema, schema: Schema): Schema | undefined {
  if (schema.properties !== undefined) return schema;
  const branches = schema.anyOf as Schema[] | undefined;
  if (branches === undefined) return undefined;
  return branches.map((branch) => resolve(root, branch)).find((branch) => branch.properties !== undefined);
}

function resolve(root: Schema, schema: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return schema;
  const target = ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, key) => (node as Schema | undefined)?.[key], root) as Schema | undefined;
  return target === undefined ? schema : resolve(root, target);
}

function label(root: Schema, schema: Schema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((value) => (typeof value === 'string' ? value : JSON.stringify(value))).join('|');
  const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (branches !== undefined) return branches.map((branch) => label(root, resolve(root, branch))).join('|');
  if (schema.type === 'array') return `${schema.items === undefined ? 'unknown' : label(root, resolve(root, schema.items as Schema))}[]`;
  if (schema.type === 'string' && typeof schema.format === 'string') return schema.format;
  if (typeof schema.type === 'string') return schema.type;
  if (Array.isArray(schema.type)) return schema.type.join('|');
  return 'unknown';
}
