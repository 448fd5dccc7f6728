/**
 * JSON for a person reading a terminal: indented like `JSON.stringify(value, null, 2)`,
 * but an object or array whose JSON fits on the rest of the line stays on one line, so
 * that a money amount reads `{"amount":7900,"currency":"EUR","exponent":2}` rather than
 * five lines. Still valid JSON, with the same values.
 */

/** The line width the compact form aims at. */
const WIDTH = 88;

/** `value` as readable JSON, each line after the first prefixed with `indent`. */
export function readableJson(value: unknown, indent = ''): string {
  const flat = JSON.stringify(value) as string | undefined;
  if (flat === undefined) return 'undefined';
  if (typeof value !== 'object' || value === null || indent.length + flat.length <= WIDTH) return flat;
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => inner + readableJson(item, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => JSON.stringify(item) !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([key, item]) => `${inner}${JSON.stringify(key)}: ${readableJson(item, inner)}`).join(',\n')}\n${indent}}`;
}
