/**
 * The change log of subscriptions and their soft delete, decided once for every adapter:
 * what a change record holds (a redacted before/after of the fields that changed), the
 * record a dispatcher-made disable writes, and what a soft delete does to the subscription.
 * The adapter reads the record inside its transaction, asks here, and writes what comes
 * back beside the change itself — so the log can never disagree with the state, and a
 * change rolled back leaves no entry.
 */
import { X509Certificate } from 'node:crypto';
import { createId } from '../../ids.js';
import type {
  ChangeAudit,
  FieldChange,
  SecretRecord,
  StoredTlsIdentity,
  SubscriptionChangeRecord,
  SubscriptionRecord,
} from '../storage-adapter.js';

/** What a sensitive header's value is logged as (the same marker reads show). */
export const REDACTED_IN_LOG = '[redacted]';

/** The value prefix of a sealed header: logged redacted whatever its name (see registry/sensitive-headers.ts). */
const sealedPrefix = 'enc:v1:';

/**
 * The fields the change log follows, in a fixed order. `tenantId` and `allTenants` are fixed
 * at creation, so only `created` records carry them; `failingSince` and `updatedAt` are the
 * dispatcher's bookkeeping, not changes anyone makes.
 */
export const loggedFields = Object.freeze([
  'tenantId',
  'allTenants',
  'url',
  'eventTypes',
  'filter',
  'transform',
  'versions',
  'orderingOnDead',
  'headers',
  'description',
  'metadata',
  'retry',
  'flowControl',
  'tls',
  'secrets',
  'status',
  'disabledReason',
  'deletedAt',
] as const satisfies ReadonlyArray<keyof SubscriptionRecord>);

export type LoggedField = (typeof loggedFields)[number];

/** A secret as the log shows it: its times, never its value. */
export interface LoggedSecret {
  createdAt: number;
  expiresAt: number | null;
}

/** The logged fields of a subscription as the log shows them: secrets as their times, sensitive header values redacted. */
export type LoggedState = { [F in LoggedField]: F extends 'secrets' ? LoggedSecret[] : F extends 'tls' ? LoggedTls | null : SubscriptionRecord[F] };

/** A TLS identity as the log shows it: the certificates by their SHA-256 fingerprints, the key redacted; `null` for none. */
export interface LoggedTls {
  clientCertificate: string | null;
  clientKey: typeof REDACTED_IN_LOG | null;
  ca: string[] | null;
  serverName: string | null;
}

/** The fingerprints of the PEM certificates in `pem` (one that does not parse as `"unparsable"`). */
function fingerprints(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => {
    try {
      return new X509Certificate(block).fingerprint256;
    } catch {
      return 'unparsable';
    }
  });
}

function loggedTls(tls: StoredTlsIdentity | null): LoggedTls | null {
  if (tls == null) return null;
  return {
    clientCertificate: tls.clientCertificate === null ? null : (fingerprints(tls.clientCertificate)[0] ?? 'unparsable'),
    clientKey: tls.clientKey === null ? null : REDACTED_IN_LOG,
    ca: tls.ca === null ? null : fingerprints(tls.ca),
    serverName: tls.serverName,
  };
}

function loggedSecrets(secrets: readonly SecretRecord[]): LoggedSecret[] {
  return secrets.map(({ createdAt, expiresAt }) => ({ createdAt, expiresAt }));
}

function loggedHeaders(headers: Readonly<Record<string, string>>, isSensitiveHeader: (name: string) => boolean): Record<string, string> {
  const logged: Record<string, string> = {};
  // Sorted by name: storages keep an object's keys in different orders.
  for (const name of Object.keys(headers).sort()) {
    const value = headers[name]!;
    logged[name] = isSensitiveHeader(name) || value.startsWith(sealedPrefix) ? REDACTED_IN_LOG : value;
  }
  return logged;
}

/** The subscription's logged fields, redacted. */
export function loggedState(record: SubscriptionRecord, isSensitiveHeader: (name: string) => boolean): LoggedState {
  const state = {} as Record<LoggedField, unknown>;
  for (const field of loggedFields) {
    if (field === 'secrets') state.secrets = loggedSecrets(record.secrets);
    else if (field === 'headers') state.headers = loggedHeaders(record.headers, isSensitiveHeader);
    else if (field === 'tls') state.tls = loggedTls(record.tls ?? null);
    else state[field] = structuredClone(record[field]);
  }
  return state as LoggedState;
}

/** JSON with object keys sorted: two values are the same change-wise when these are equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

/**
 * The changed fields from `before` to `after`, redacted: every logged field for a creation
 * (`before` `null`, each `before` value `null`), else those whose logged form differs. A
 * sensitive header whose value changed shows `"[redacted]"` on both sides, so the change of
 * a credential is visible but not the credential; so does a secret's rotation (new times).
 */
export function subscriptionChanges(
  before: SubscriptionRecord | null,
  after: SubscriptionRecord,
  isSensitiveHeader: (name: string) => boolean,
): Record<string, FieldChange> {
  const next = loggedState(after, isSensitiveHeader);
  const previous = before === null ? null : loggedState(before, isSensitiveHeader);
  const changes: Record<string, FieldChange> = {};
  for (const field of loggedFields) {
    if (previous === null) {
      changes[field] = { before: null, after: next[field] };
      continue;
    }
    if (field === 'headers') {
      // A credential swapped for another has the same redacted form: compare what is stored.
      const same = canonical(before!.headers) === canonical(after.headers);
      if (!same) changes.headers = { before: previous.headers, after: next.headers };
      continue;
    }
    if (field === 'tls') {
      // A key swapped (or resealed) under the same certificate has the same logged form: compare what is stored.
      if (canonical(before!.tls ?? null) !== canonical(after.tls ?? null)) changes.tls = { before: previous.tls, after: next.tls };
      continue;
    }
    if (canonical(previous[field]) !== canonical(next[field])) changes[field] = { before: previous[field], after: next[field] };
  }
  return changes;
}

/**
 * `changes` with its fields in {@link loggedFields} order: for a storage that does not keep an
 * object's key order (PostgreSQL's jsonb orders keys by length), so every storage reads a
 * record back the same way.
 */
export function inLoggedOrder(changes: Readonly<Record<string, FieldChange>>): Record<string, FieldChange> {
  const ordered: Record<string, FieldChange> = {};
  for (const field of loggedFields) if (field in changes) ordered[field] = changes[field]!;
  for (const field of Object.keys(changes)) if (!(field in ordered)) ordered[field] = changes[field]!;
  return ordered;
}

/** A change record before the adapter numbers it in its subscription's log (`sequence`, at write time). */
export type NewChangeRecord = Omit<SubscriptionChangeRecord, 'sequence'>;

/** The change record of a change made through the API (`audit` names it; the adapter gives the records before and after). */
export function changeRecord(audit: ChangeAudit, before: SubscriptionRecord | null, after: SubscriptionRecord, at: number): NewChangeRecord {
  return {
    id: audit.id,
    subscriptionId: after.id,
    tenantId: after.tenantId,
    action: audit.action,
    origin: audit.origin ?? 'api',
    actor: audit.actor,
    reason: audit.reason,
    changes: subscriptionChanges(before, after, audit.isSensitiveHeader),
    at,
  };
}

/**
 * The change record a `disable` settle writes when it disables the subscription: origin
 * `dispatcher`, no actor, the disable's reason. Only status fields change, so no header is
 * in it (every header is treated as sensitive all the same).
 */
export function dispatcherDisableRecord(before: SubscriptionRecord, after: SubscriptionRecord, at: number): NewChangeRecord {
  return {
    id: createId('chg', at),
    subscriptionId: after.id,
    tenantId: after.tenantId,
    action: 'disabled',
    origin: 'dispatcher',
    actor: null,
    reason: after.disabledReason,
    changes: subscriptionChanges(before, after, () => true),
    at,
  };
}

/** The `disabledReason` a subscription takes when it is deleted while active. */
export const DELETED_REASON = 'deleted';

/**
 * The subscription's fields after a soft delete at `now`: disabled for good (a disabled one
 * keeps its reason and time of disabling), `deletedAt` and `updatedAt` `now`. `null` when it
 * is deleted already (nothing to write).
 */
export function softDeletedFields(
  current: Pick<SubscriptionRecord, 'status' | 'disabledReason' | 'disabledAt' | 'deletedAt'>,
  now: number,
): Pick<SubscriptionRecord, 'status' | 'disabledReason' | 'disabledAt' | 'deletedAt' | 'updatedAt'> | null {
  if (current.deletedAt !== null) return null;
  return current.status === 'disabled'
    ? { status: 'disabled', disabledReason: current.disabledReason, disabledAt: current.disabledAt, deletedAt: now, updatedAt: now }
    : { status: 'disabled', disabledReason: DELETED_REASON, disabledAt: now, deletedAt: now, updatedAt: now };
}

/** The statuses a soft delete or an expunge cancels (for a SQL `IN (…)` list): the open ones. */
export const cancellableStatuses = Object.freeze(['pending', 'held'] as const);
