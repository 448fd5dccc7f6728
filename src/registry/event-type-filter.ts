/**
 * Event-type filters of a subscription: an exact type (`payment.succeeded`), a
 * prefix wildcard (`payment.*`, matching every type that starts with `payment.`),
 * or `*` (every type). The one home of the matching rule; storage adapters use it
 * (or translate it to SQL with the same meaning).
 */
import type { EventCatalog, EventTypeOf } from '../events/catalog.js';

/** Every `prefix.*` filter that matches an event type: `payment.card.failed` → `payment.*` | `payment.card.*`. */
export type EventTypePrefixes<TType extends string> = TType extends `${infer Head}.${infer Rest}`
  ? `${Head}.*` | `${Head}.${EventTypePrefixes<Rest>}`
  : never;

/**
 * The filters a subscription may list for a catalog: its exact types, `prefix.*` for
 * each of their prefixes, and `*` — so a typo in `eventTypes` fails to compile. With an
 * untyped catalog (event types only known as `string`), any string.
 */
export type EventTypeFilterOf<TCatalog extends EventCatalog = EventCatalog> =
  string extends EventTypeOf<TCatalog> ? string : EventTypeOf<TCatalog> | EventTypePrefixes<EventTypeOf<TCatalog>> | '*';

const segment = '[a-z0-9][a-z0-9_-]*';
const exactPattern = new RegExp(`^${segment}(\\.${segment})*$`);
const prefixPattern = new RegExp(`^${segment}(\\.${segment})*\\.\\*$`);

/** The kinds of filter: `exact`, `prefix` (ends in `.*`), `all` (`*`), or `invalid`. */
export type EventTypeFilterKind = 'exact' | 'prefix' | 'all' | 'invalid';

/** Classifies a filter string; `invalid` for anything malformed (`payment*`, `a..b`, `*.x`, ``). */
export function eventTypeFilterKind(filter: string): EventTypeFilterKind {
  if (filter === '*') return 'all';
  if (prefixPattern.test(filter)) return 'prefix';
  if (exactPattern.test(filter)) return 'exact';
  return 'invalid';
}

/** True when the event type matches the filter. */
export function matchesEventType(filter: string, type: string): boolean {
  if (filter === '*') return true;
  if (filter.endsWith('.*')) return type.startsWith(filter.slice(0, -1));
  return filter === type;
}

/** True when the type matches any of the filters. */
export function matchesAnyEventType(filters: readonly string[], type: string): boolean {
  for (const filter of filters) if (matchesEventType(filter, type)) return true;
  return false;
}

/**
 * Every filter that matches `type`: `*`, the type itself, and each of its prefixes
 * with `.*` (`payment.card.failed` → `payment.*`, `payment.card.*`). Storage adapters
 * look these up in an index instead of testing every subscription's filters.
 */
export function candidateFilters(type: string): string[] {
  const filters = ['*', type];
  for (let i = 0; i < type.length; i++) if (type[i] === '.') filters.push(`${type.slice(0, i + 1)}*`);
  return filters;
}

/** The types of `types` (a catalog's) that any of the filters match, in their order. */
export function matchingEventTypes(types: readonly string[], filters: readonly string[]): string[] {
  return types.filter((type) => matchesAnyEventType(filters, type));
}
