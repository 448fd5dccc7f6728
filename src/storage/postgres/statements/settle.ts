/**
 * The settle statement: a whole batch of attempts and outcomes in one round trip. Its
 * decisions are built from shared/settlement.ts — the status CASE from
 * `settledStatusRules` and, for a delivery cancelled while its attempt was in flight,
 * `settledStatusOfCancelled`; the lastError CASE from `settledLastError`; whether the
 * attempt keeps its response snippet from `keepsResponseSnippet`; the failingSince kind
 * lists from `outcomeKindsWhere` — so the SQL states the rule every adapter applies
 * rather than a copy of it.
 */
import { quoteLiteral } from '../migrations/index.js';
import {
  type OutcomeKind,
  keepsResponseSnippet,
  outcomeKinds,
  failingSinceNeutralClasses,
  outcomeKindsWhere,
  settledLastError,
  settledStatusOfCancelled,
  settledStatusRules,
} from '../../shared/settlement.js';
import { cancelledStatus, deliveryColumns, literalList, type Tables } from './sql-parts.js';

/**
 * The outcomes after which a delivery of an ordering key may let its key's head pass
 * (storage/shared/ordering.ts: delivered; dead, under `skip`): a batch holding one is settled
 * with the key locked.
 */
export const headPassingKinds: readonly OutcomeKind[] = Object.freeze(['delivered', 'dead']);

/**
 * `settledStatus(kind, subscriptionActive)` as a SQL CASE over the expressions `kind`
 * and `active`, one WHEN per outcome kind.
 */
export function settledStatusSql(kind: string, active: string): string {
  const whens = outcomeKinds.map((outcome) => {
    const whenActive = settledStatusRules.find((rule) => rule.kind === outcome && rule.subscriptionActive)!.status;
    const whenNot = settledStatusRules.find((rule) => rule.kind === outcome && !rule.subscriptionActive)!.status;
    const status =
      whenActive === whenNot
        ? quoteLiteral(whenActive)
        : `CASE WHEN ${active} THEN ${quoteLiteral(whenActive)} ELSE ${quoteLiteral(whenNot)} END`;
    return `WHEN ${kind} = ${quoteLiteral(outcome)} THEN ${status}`;
  });
  return `CASE ${whens.join(' ')} END`;
}

/** `settledStatusOfCancelled(kind)` as a SQL CASE over the expression `kind`, one WHEN per outcome kind. */
export function settledStatusOfCancelledSql(kind: string): string {
  const whens = outcomeKinds.map((outcome) => `WHEN ${kind} = ${quoteLiteral(outcome)} THEN ${quoteLiteral(settledStatusOfCancelled(outcome))}`);
  return `CASE ${whens.join(' ')} END`;
}

/** Every status a settle can leave a delivery in, by the rules above. */
const settledStatuses = [...new Set([...settledStatusRules.map((rule) => rule.status), ...outcomeKinds.map(settledStatusOfCancelled)])];

/**
 * `settledLastError(status, attemptError, current)` as a SQL CASE over the expressions
 * `status`, `attemptError` and `current`, one WHEN per status a settle leaves. The rule
 * picks one of its last two arguments, so asked with the expressions it answers with the
 * expression to take.
 */
export function settledLastErrorSql(status: string, attemptError: string, current: string): string {
  const whens = settledStatuses.map((settled) => `WHEN ${quoteLiteral(settled)} THEN ${settledLastError(settled, attemptError, current) ?? 'NULL'}`);
  return `CASE ${status} ${whens.join(' ')} END`;
}

/** The response snippet an attempt keeps, `keepsResponseSnippet(cancelled)` as SQL over the expressions `cancelled` and `snippet`. */
export function keptSnippetSql(cancelled: string, snippet: string): string {
  const kept = (isCancelled: boolean): string => (keepsResponseSnippet(isCancelled) ? snippet : 'NULL');
  return `CASE WHEN ${cancelled} THEN ${kept(true)} ELSE ${kept(false)} END`;
}

export function settleStatements(t: Tables) {
  return {
    // The batch's settle, in one statement, but for the subscriptions that have a delivery of
    // an ordering key in the batch whose outcome is final (`delivered` or `dead`): their
    // settlements are left to `settleKeyed`, in a transaction that moves the keys' heads
    // (postgres-storage.ts #settleKeyed). Whole subscriptions, so that each one's
    // failingSince is folded over its settlements in batch order by one statement or the other.
    settle: settleSql(t, true),
    // The same for every settlement given: run in the transaction of a key's head passing.
    settleKeyed: settleSql(t, false),
  };
}

/**
 * The settle statement; `defersKeyed`: the subscriptions with a delivery of an ordering key
 * settled `delivered` or `dead` in the batch are left out (`deferred`, read by the primary
 * key from the statement's snapshot: a delivery's subscription and key never change).
 */
function settleSql(t: Tables, defersKeyed: boolean): string {
  // The subscription counts as active only while the locked delivery row is still
  // pending: `s` is read from the statement's snapshot, but a disable that committed
  // after it turned the row held, and the UPDATE sees the row's latest version. A
  // delivery cancelled while its attempt was in flight is judged on the same version.
  const status =
    `CASE WHEN d.status = ${quoteLiteral(cancelledStatus)} THEN ${settledStatusOfCancelledSql('i.kind')} ` +
    `ELSE ${settledStatusSql('i.kind', `(d.status = 'pending' AND s.status = 'active')`)} END`;
  const clears = literalList(outcomeKindsWhere('clear'));
  const starts = literalList(outcomeKindsWhere('start'));
  // An attempt of a neutral error class (the egress proxy's failure) moves nothing.
  const counts = `st.error_class IS NULL OR st.error_class NOT IN (${literalList(failingSinceNeutralClasses)})`;
  const deferred = defersKeyed
    ? `, deferred AS (
        SELECT DISTINCT d.subscription_id FROM input AS i JOIN ${t.deliveries} AS d ON d.id = i.id
        WHERE d.ordering_key IS NOT NULL AND i.kind IN (${literalList(headPassingKinds)})
      )`
    : '';
  const notDeferred = defersKeyed ? ' AND d.subscription_id NOT IN (SELECT deferred.subscription_id FROM deferred)' : '';
  // The batch arrives as parallel arrays (one per field), unnested WITH ORDINALITY so
  // each result finds its place.
  // - input: DISTINCT ON (id, token) makes a repeated settlement apply once (the
  //   repeat then finds the token gone: STORAGE_LEASE_LOST), as a sequential loop would.
  // - settled: the UPDATE is the fence: `d.lease_token = i.token` under the row lock.
  //   If another worker re-claimed the row and committed meanwhile, READ COMMITTED
  //   re-checks the condition on the new version, the token differs, nothing changes.
  //   status, next_attempt_at and delivered_at are settledFields(), `cancelled` being
  //   the status of the locked row; last_error is settledLastError(). RETURNING sees
  //   only the row's new values, in which a cancelled delivery that this attempt
  //   delivered is no longer 'cancelled': it is known by `cancelled_at`, which only a
  //   cancellation sets and nothing clears (no extra read of the row for it).
  // - history (the rule of shared/delivery-history.ts): history_attempts counts on
  //   across redeliveries; any outcome but 'delivered' is a failed attempt, and sets
  //   first_failed_at once; the first 'delivered' after one sets recovered_at once.
  // - recorded: the attempts, numbered from the settled row's new history count, the
  //   response snippet kept or not by keepsResponseSnippet().
  // - failing: the subscriptions' failing_since as failingSinceAfter() leaves it, applied
  //   in batch order, settlements of a neutral error class (failingSinceNeutralClasses) left out: the value after the batch is the first `start` after the batch's
  //   last `clear`, or — with no `clear` — the stored value, else the batch's first
  //   `start`. The row is written only when that changes it: a healthy subscription (or
  //   one failing for a while) costs no write and no row lock on subscriptions.
  // A `disable` outcome (410 Gone) disables the subscription in statements after this
  // one, in the same transaction: one statement cannot update a row twice.
  // - deferred: see settleStatements.
  return `
      WITH input AS (
        SELECT DISTINCT ON (i.id, i.token) i.*
        FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[],
                    $8::float8[], $9::integer[], $10::text[], $11::text[], $12::text[])
             WITH ORDINALITY AS i(id, token, kind, next_at, reason, attempt_id, started_at, duration_ms,
                                  status_code, error_class, error_message, snippet, ord)
        ORDER BY i.id, i.token, i.ord
      )${deferred}, settled AS (
        UPDATE ${t.deliveries} AS d SET
          status = ${status},
          attempts = d.attempts + 1,
          history_attempts = d.history_attempts + 1,
          first_failed_at = CASE WHEN i.kind <> 'delivered' THEN COALESCE(d.first_failed_at, i.started_at) ELSE d.first_failed_at END,
          recovered_at = CASE WHEN i.kind = 'delivered' AND d.first_failed_at IS NOT NULL
            THEN COALESCE(d.recovered_at, i.started_at) ELSE d.recovered_at END,
          next_attempt_at = CASE WHEN i.kind = 'retry' AND ${status} = 'pending' THEN i.next_at END,
          last_attempt_at = i.started_at,
          last_status_code = i.status_code,
          last_error = ${settledLastErrorSql(status, 'i.error_message', 'd.last_error')},
          delivered_at = CASE WHEN ${status} = 'delivered' THEN $13::bigint END,
          lease_token = NULL,
          lease_expires_at = NULL,
          updated_at = $13::bigint
        FROM input AS i, ${t.subscriptions} AS s
        WHERE d.id = i.id AND d.lease_token = i.token AND s.id = d.subscription_id${notDeferred}
        RETURNING ${deliveryColumns('d')}, d.history_attempts, i.ord, i.kind, i.started_at, i.error_class, s.failing_since AS failing_before,
          d.cancelled_at IS NOT NULL AS was_cancelled, s.ordering_on_dead
      ), recorded AS (
        INSERT INTO ${t.attempts} (id, delivery_id, attempt_number, started_at, duration_ms, status_code, error_class,
          error_message, response_snippet, outcome, next_attempt_at)
        SELECT i.attempt_id, st.id, st.history_attempts, i.started_at, i.duration_ms, i.status_code, i.error_class,
          i.error_message, ${keptSnippetSql('st.was_cancelled', 'i.snippet')}, i.kind, i.next_at
        FROM settled AS st JOIN input AS i ON i.ord = st.ord
      ), marked AS (
        SELECT st.subscription_id, st.ord, st.kind, st.started_at,
          max(st.ord) FILTER (WHERE st.kind IN (${clears})) OVER (PARTITION BY st.subscription_id) AS last_clear
        FROM settled AS st
        WHERE ${counts}
      ), outcome AS (
        SELECT m.subscription_id, bool_or(m.last_clear IS NOT NULL) AS cleared,
          (array_agg(m.started_at ORDER BY m.ord)
             FILTER (WHERE m.kind IN (${starts}) AND m.ord > COALESCE(m.last_clear, 0)))[1] AS first_start
        FROM marked AS m
        GROUP BY m.subscription_id
      ), failing AS (
        -- Computed from the locked row (s), so a concurrent batch's write is built upon.
        UPDATE ${t.subscriptions} AS s
        SET failing_since = CASE WHEN o.cleared THEN o.first_start ELSE COALESCE(s.failing_since, o.first_start) END
        FROM outcome AS o
        WHERE s.id = o.subscription_id
          AND s.failing_since IS DISTINCT FROM
              (CASE WHEN o.cleared THEN o.first_start ELSE COALESCE(s.failing_since, o.first_start) END)
      )
      SELECT * FROM settled`;
}
