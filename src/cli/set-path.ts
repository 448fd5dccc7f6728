/**
 * `--set path=value` overrides for `trigger`: a dotted path into the event data
 * (`amount.amount=500`, `lines.0.description=Paper`), its value read as JSON when it parses
 * (`500`, `true`, `null`, `{"a":1}`, `"500"` for the string) and as a plain string otherwise.
 */
import { UsageError } from './usage-error.js';

/** One parsed `--set`. */
export interface SetOverride {
  path: string[];
  value: unknown;
}

/** Parses `path=value`. @throws UsageError for one without `=` or with an empty path segment. */
export function parseSetOverride(text: string, command: string): SetOverride {
  const equals = text.indexOf('=');
  const path = equals === -1 ? [] : text.slice(0, equals).split('.');
  if (equals <= 0 || path.some((segment) => segment === '')) {
    throw new UsageError(`Expected --set path=value (e.g. amount.amount=500), got ${JSON.stringify(text)}`, command);
  }
  if (path.some((segment) => segment === '__proto__' || segment === 'constructor' || segment === 'prototype')) {
    throw new UsageError(`Expected --set path segments that name data fields, got ${JSON.stringify(text.slice(0, equals))}`, command);
  }
  return { path, value: parseValue(text.slice(equals + 1)) };
}

function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * A copy of `data` with `override` applied: missing objects on the way are created, an
 * array is indexed by a numeric segment.
 */
export function applySetOverride(data: unknown, override: SetOverride): unknown {
  const root = structuredClone(data) as Record<string, unknown>;
  let node: Record<string, unknown> = root;
  override.path.forEach((segment, index) => {
    if (index === override.path.length - 1) {
      node[segment] = override.value;
      return;
    }
    const next = node[segment];
    if (typeof next !== 'object' || next === null) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  });
  return root;
}
