/**
 * What a page shows of a subscription and of its change log: all of it on the operator's
 * dashboard; in the customer portal, nothing of the fields that are the operator's own.
 *
 * A subscription's `metadata` is the host's: internal notes such as the account manager, the
 * plan or a risk flag. The portal cannot set it (subscription-form.ts), and it must not show
 * it either — not its value, and not its changes. Every page and action answer that puts a
 * subscription or its change log into its HTML or its JSON takes it from here, so the rule
 * is written once: a page renders what it is given and never asks which dashboard it is on.
 */
import type { Subscription, SubscriptionChange } from '../registry/subscription-registry.js';
import type { StoredEvent } from '../stored-events.js';
import type { DashboardContext } from './dashboard-context.js';

/** The fields of a subscription that are the operator's: shown only outside the portal. */
const operatorFields = ['metadata'] as const satisfies ReadonlyArray<keyof Subscription>;

type OperatorField = (typeof operatorFields)[number];

function isOperatorField(name: string): name is OperatorField {
  return (operatorFields as readonly string[]).includes(name);
}

/**
 * A subscription as a page shows it: the operator's fields are present on the operator's
 * dashboard and absent in the portal (not emptied: `{}` would read as "no metadata", and
 * would wipe it if written back).
 */
export type ShownSubscription<T extends Subscription = Subscription> = Omit<T, OperatorField> & Partial<Pick<T, OperatorField>>;

/** The subscription as this request may see it: without the operator's fields in the portal. */
export function shownSubscription<T extends Subscription>(context: Pick<DashboardContext, 'tenantId'>, subscription: T): ShownSubscription<T> {
  if (context.tenantId === undefined) return subscription;
  const shown: Partial<T> = { ...subscription };
  for (const field of operatorFields) delete shown[field];
  return shown as ShownSubscription<T>;
}

/**
 * Change log entries as this request may see them. In the portal, each entry loses the
 * before/after of the operator's fields, and an entry that changed nothing else is left out
 * altogether: its time, actor and reason are the operator's note as much as the value is.
 */
export function shownChanges(context: Pick<DashboardContext, 'tenantId'>, changes: readonly SubscriptionChange[]): SubscriptionChange[] {
  if (context.tenantId === undefined) return [...changes];
  return changes.flatMap((change) => {
    const names = Object.keys(change.changes);
    const kept = names.filter((name) => !isOperatorField(name));
    if (kept.length === names.length) return [change];
    if (kept.length === 0) return [];
    return [{ ...change, changes: Object.fromEntries(kept.map((name) => [name, change.changes[name]!])) }];
  });
}

/**
 * A stored event as this request may see it. In the portal it loses `idempotencyKey`: the key
 * the host published it with, from the host's own records, which the endpoint never receives.
 */
export function shownEvent(context: Pick<DashboardContext, 'tenantId'>, event: StoredEvent | null): StoredEvent | Omit<StoredEvent, 'idempotencyKey'> | null {
  if (context.tenantId === undefined || event === null) return event;
  const { idempotencyKey: _operators, ...shown } = event;
  return shown;
}
