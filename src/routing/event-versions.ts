/**
 * Event versions at fan-out: which version of a versioned type a subscription receives
 * (its pin, routing/version-pins.ts), and the event's data downgraded to it, one version at a
 * time through each version's `downgrade`, each step checked against the schema of the
 * version it lands on (its output is what the next step, or the envelope, gets).
 *
 * A downgrade is the host's code, run inside the publish like a transform: one that throws,
 * returns a promise, or returns data the version below refuses (or with no faithful JSON
 * form) refuses the whole publish with `EVENT_DOWNGRADE_FAILED`, storing nothing — an
 * endpoint pinned to an old version must not quietly miss events.
 */
import { ValidationError } from '../errors.js';
import { compiledSchema, eventTypeVersions, type EventCatalog, type EventTypeVersions } from '../events/catalog.js';
import { describeIssues } from '../describe-issues.js';
import { jsonValueProblem } from '../json-value-problem.js';
import type { SubscriptionRecord } from '../storage/storage-adapter.js';
import { versionPinsOf } from './version-pins.js';

/** What a subscription gets of an event of a versioned type: the version its data is in, and the one it receives. */
export interface VersionRoute {
  versions: EventTypeVersions;
  /** The version of the event's data (a stored event published before its type had versions: the oldest). */
  from: number;
  /** The version the subscription receives: its pin, or `from` when unpinned or pinned above it (nothing upgrades). */
  to: number;
}

/**
 * The route of an event of `type`, its data in version `version` (`undefined`: an envelope
 * without one), to `subscription`; `null` for a type without versions.
 * @throws ValidationError `EVENT_VERSION_UNKNOWN` when the subscription's pin is no version
 *   of the type (the catalog dropped it, or the pin was changed outside the API), or when the
 *   data must be downgraded from a version the catalog lacks (stored by a newer catalog).
 */
export function versionRoute(catalog: EventCatalog, type: string, version: number | undefined, subscription: SubscriptionRecord): VersionRoute | null {
  const versions = eventTypeVersions(catalog, type);
  if (versions === undefined) return null;
  const from = version ?? versions.oldest;
  const pin = subscription.versions === null ? undefined : versionPinsOf(subscription.versions)[type];
  if (pin === undefined) return { versions, from, to: from };
  if (!versions.list.includes(pin)) {
    throw new ValidationError(
      'EVENT_VERSION_UNKNOWN',
      `Subscription ${subscription.id} is pinned to version ${pin} of ${JSON.stringify(type)}, which the catalog does not have (${versions.list.join(', ')}): update its versions; nothing was stored`,
      { field: `versions.${type}` },
    );
  }
  const to = Math.min(pin, from);
  if (to < from && !versions.list.includes(from)) {
    // Stored by an instance whose catalog had a newer version (a rollback): no downgrade of it here.
    throw new ValidationError(
      'EVENT_VERSION_UNKNOWN',
      `The event of ${JSON.stringify(type)} is in version ${from}, which the catalog does not have (${versions.list.join(', ')}): it cannot be downgraded to version ${to} for subscription ${subscription.id} (it was published with a newer catalog: deploy that one again); nothing was stored`,
      { field: `versions.${type}` },
    );
  }
  return { versions, from, to };
}

function downgradeFailed(type: string, from: number, to: number, subscriptionId: string, what: string, cause?: unknown): never {
  throw new ValidationError(
    'EVENT_DOWNGRADE_FAILED',
    `Expected the downgrade of ${JSON.stringify(type)} from version ${from} to version ${to} (for subscription ${subscriptionId}) to return valid data of version ${to}, got ${what}; nothing was stored`,
    { field: `versions.${type}`, ...(cause === undefined ? {} : { cause }) },
  );
}

/**
 * `data` (valid data of version `route.from`) downgraded to `route.to`, one version at a time.
 * Each downgrade gets a copy, so a downgrade that changes its argument changes nobody else's.
 * @throws ValidationError `EVENT_DOWNGRADE_FAILED` naming the type, the step and the subscription.
 */
export function downgradeData(route: VersionRoute, type: string, data: unknown, subscriptionId: string): unknown {
  const { versions, from, to } = route;
  if (to >= from) return data;
  let current: unknown;
  try {
    current = structuredClone(data);
  } catch (cause) {
    // What publish took through a `toJSON` may hold what cannot be cloned (a function), or nest past the stack.
    downgradeFailed(type, from, to, subscriptionId, `data that could not be copied for it (${cause instanceof Error ? cause.message : String(cause)})`, cause);
  }
  for (let version = from; version > to; version--) {
    const downgrade = versions.downgrades[version]!;
    let next: unknown;
    try {
      next = downgrade(current);
    } catch (cause) {
      downgradeFailed(type, version, version - 1, subscriptionId, `an error (${cause instanceof Error ? cause.message : String(cause)})`, cause);
    }
    if (typeof (next as { then?: unknown } | null)?.then === 'function') {
      downgradeFailed(type, version, version - 1, subscriptionId, 'a promise (a downgrade runs inside the publish: it must be synchronous)');
    }
    const schema = versions.schemas[version - 1]!;
    let parsed: ReturnType<ReturnType<typeof compiledSchema>['safeParse']>;
    try {
      parsed = compiledSchema(schema).safeParse(next);
    } catch (cause) {
      // A getter or toJSON of what it returned threw, or it nests deeper than the stack.
      downgradeFailed(type, version, version - 1, subscriptionId, unreadable(cause), cause);
    }
    if (!parsed.success) {
      const { message } = describeIssues(parsed.error, next, { schema, prefix: 'data' });
      downgradeFailed(type, version, version - 1, subscriptionId, `data its schema refuses: ${message}`, parsed.error);
    }
    current = parsed.data;
  }
  let problem: ReturnType<typeof jsonValueProblem>;
  try {
    problem = jsonValueProblem(current, { key: 'data' });
  } catch (cause) {
    downgradeFailed(type, from, to, subscriptionId, unreadable(cause), cause);
  }
  if (problem !== null) downgradeFailed(type, from, to, subscriptionId, `${problem.found} at \`${['data', ...problem.path].join('.')}\``);
  return current;
}

/** What a downgrade returned whose reading threw (a getter, a `toJSON`, nesting past the stack), as the error says it. */
function unreadable(cause: unknown): string {
  return `data whose JSON form could not be read (${cause instanceof Error ? cause.message : String(cause)})`;
}
