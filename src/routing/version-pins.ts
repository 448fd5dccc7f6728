/**
 * A subscription's version pins: for each versioned event type of the catalog (a type
 * defined with `versions`), the version its deliveries carry — `{ 'payment.succeeded': 1 }`.
 * This header is the contract of the field.
 *
 * - **At `create`**, without `versions`: each versioned type its `eventTypes` match is pinned
 *   to that type's newest version (Stripe pins an endpoint to the API version of its
 *   creation), so a later version never changes what an existing endpoint receives. Given
 *   explicitly, the pins are checked and kept as given; `{}` or `null`: no pins.
 * - **At `update`**, `versions` replaces the pins (`null` removes them all). Without it, an
 *   `eventTypes` change pins each versioned type the new filters match that has no pin yet
 *   to its newest version, as `create` would.
 * - **Unpinned**, a versioned type is sent in its newest version — so is every type of a
 *   subscription with no pins (`null`), the case of one created before its types had
 *   versions: pin those with `update({ versions })` before publishing a version they
 *   must not get.
 * - **Checked** against the catalog: each key a versioned type, each value one of its
 *   versions; else `EVENT_VERSION_UNKNOWN` naming `versions.<type>`. A pin of a type the
 *   subscription's `eventTypes` do not match is kept (it applies once they do).
 * - **Stored** as canonical text, `JSON.stringify` with the types sorted, or `null` for no
 *   pins; the storage keeps it as given and never interprets it.
 */
import { ValidationError, describeValue } from '../errors.js';
import { eventTypeVersions, type EventCatalog } from '../events/catalog.js';
import { matchesEventType } from '../registry/event-type-filter.js';

/** Versioned event type → the version a subscription receives it in. */
export type VersionPins = Record<string, number>;

function unknownVersion(field: string, message: string): never {
  throw new ValidationError('EVENT_VERSION_UNKNOWN', message, { field });
}

/**
 * The canonical text of the pins given to `create` or `update`, checked against the catalog;
 * `null` for `null` or `{}`.
 * @throws ValidationError `INPUT_INVALID` for what is not an object of integers;
 *   `EVENT_VERSION_UNKNOWN` naming `versions.<type>` for a type without versions or a version it lacks.
 */
export function parseVersionPins(catalog: EventCatalog, value: unknown): string | null {
  if (value === null) return null;
  const prototype: unknown = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (typeof value !== 'object' || Array.isArray(value) || (prototype !== Object.prototype && prototype !== null)) {
    throw new ValidationError('INPUT_INVALID', `Expected \`versions\` to be an object of event type → version number, or null, got ${describeValue(value)}`, {
      field: 'versions',
    });
  }
  const pins: VersionPins = {};
  for (const type of Object.keys(value).sort()) {
    const version = (value as Record<string, unknown>)[type];
    const field = `versions.${type}`;
    if (!catalog.has(type)) unknownVersion(field, `Expected each key of \`versions\` to be an event type of the catalog with versions, got ${describeValue(type)}`);
    const versions = eventTypeVersions(catalog, type);
    if (versions === undefined) {
      unknownVersion(field, `Expected each key of \`versions\` to be an event type with versions (defineEvents({ [type]: { versions } })), got ${JSON.stringify(type)}, which has one schema`);
    }
    if (typeof version !== 'number' || !versions.list.includes(version)) {
      unknownVersion(field, `Expected \`${field}\` to be a version of ${JSON.stringify(type)} (${versions.list.join(', ')}), got ${describeValue(version)}`);
    }
    pins[type] = version;
  }
  return Object.keys(pins).length === 0 ? null : JSON.stringify(pins);
}

/**
 * The pins a subscription gets for its `eventTypes` when none are given: each versioned type
 * they match, at its newest version, beside the `current` ones (kept as they are).
 * `null` when that makes none.
 */
export function defaultVersionPins(catalog: EventCatalog, eventTypes: readonly string[], current: string | null = null): string | null {
  const pins: VersionPins = { ...(current === null ? {} : versionPinsOf(current)) };
  let added = false;
  for (const type of catalog.types) {
    const versions = eventTypeVersions(catalog, type);
    if (versions === undefined || Object.hasOwn(pins, type) || !eventTypes.some((filter) => matchesEventType(filter, type))) continue;
    pins[type] = versions.newest;
    added = true;
  }
  if (!added) return current;
  const sorted: VersionPins = {};
  for (const type of Object.keys(pins).sort()) sorted[type] = pins[type]!;
  return JSON.stringify(sorted);
}

// Parsed per distinct text: a publish reads the pins of every pinned subscription it renders
// for, and a catalog gives few distinct texts. Bounded, in case texts come from everywhere.
const parsedPins = new Map<string, Readonly<VersionPins>>();
const maxParsedPins = 1024;

/**
 * The pins a stored text holds, as the API shows them. A text that is not an object of
 * numbers (changed outside the API) reads as no pins of the types it garbles.
 */
export function versionPinsOf(stored: string): Readonly<VersionPins> {
  let pins = parsedPins.get(stored);
  if (pins !== undefined) return pins;
  let value: unknown;
  try {
    value = JSON.parse(stored);
  } catch {
    value = null;
  }
  const read: VersionPins = {};
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [type, version] of Object.entries(value)) if (typeof version === 'number') read[type] = version;
  }
  pins = Object.freeze(read);
  if (parsedPins.size >= maxParsedPins) parsedPins.clear();
  parsedPins.set(stored, pins);
  return pins;
}
