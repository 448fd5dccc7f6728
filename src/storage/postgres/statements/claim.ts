/**
 * The dispatcher's statements besides the settle: claim a batch of due deliveries under
 * leases (one round trip), give leases back, and say when the next delivery is due. The
 * shapes are chosen for the plan; each comment says what the shape buys.
 */
import { openDeliveryUpdate } from '../../shared/open-deliveries.js';
import { dbNowMs, deliveryColumns, literalList, type Tables } from './sql-parts.js';

// A stray pending delivery of a disabled subscription is parked as the disable would have held it.
const hold = openDeliveryUpdate('hold', 0).fields;

export function claimStatements(t: Tables) {
  const D = t.deliveries;
  return {
    // The claim, one round trip for the whole batch.
    // - due: reads the partial index deliveries_due (pending rows in due order) from the
    //   head: due by the caller's clock, and not under a live lease by the database's.
    //   It stops after $2 claimable rows, stepping over the rows in flight: O(limit +
    //   in flight) however large the backlog. The scan reads deliveries alone, on
    //   purpose: no `status = 'pending'` clause (next_attempt_at is set exactly on
    //   pending rows, a CHECK) and no join, so that even on a table never ANALYZEd the
    //   planner has no cheaper-looking plan than reading this index in order up to the
    //   limit (with a join to subscriptions it chose to fetch every delivery of the
    //   subscription and sort them).
    // - FOR UPDATE SKIP LOCKED: concurrent claimers lock disjoint rows and never wait for
    //   each other. A row another claimer leased and committed after our snapshot is
    //   re-checked on its new version (READ COMMITTED's recheck) and dropped: its lease
    //   is live. So a delivery is never handed out twice while its lease holds.
    // - leased: rows of active subscriptions get a fresh random token (the fence) and a
    //   lease expiring by the database clock. No indexed column changes, so the update
    //   is HOT (see the fillfactor in the migration).
    // - parked: a pending row of a disabled subscription (a publish that read the
    //   subscription as active just before a concurrent disable committed) is held here,
    //   as the disable would have done, instead of being sent or stepped over forever.
    // - the final SELECT joins the event and the subscription, so the dispatcher has all
    //   it needs to sign and post, ordered oldest due first.
    claim: claimSql(t, `
      WITH due AS (
        SELECT d.id, d.next_attempt_at, d.subscription_id
        FROM ${D} AS d
        WHERE d.next_attempt_at <= $1::bigint
          AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ${dbNowMs})
        ORDER BY d.next_attempt_at, d.id
        LIMIT $2
        FOR UPDATE OF d SKIP LOCKED`),
    // The claim when some subscriptions ($4) or tenants ($5) must be skipped: `candidates`
    // takes the due head of each other active subscription from deliveries_subscription_due
    // (a few index reads per subscription), so a skipped subscription's backlog — however
    // long — is never walked over; `due` then locks the oldest of them as above.
    // Candidates are not locked, so a claimer racing on the same ones may get fewer rows
    // than it asked for (never a row twice); four times the limit leaves room for that.
    // A tenant is skipped by its subscriptions, as cheaply: a delivery's tenant is its
    // subscription's (deliveryTenantId of shared/tenancy.ts), and the platform's
    // subscriptions (tenant_id NULL) are never skipped by it.
    claimExcluding: claimSql(t, `
      WITH candidates AS (
        SELECT x.id
        FROM ${t.subscriptions} AS s
        CROSS JOIN LATERAL (
          SELECT d.id, d.next_attempt_at FROM ${D} AS d
          WHERE d.subscription_id = s.id AND d.next_attempt_at <= $1::bigint
            AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ${dbNowMs})
          ORDER BY d.next_attempt_at, d.id
          LIMIT $2 * 4
        ) AS x
        WHERE s.status = 'active' AND s.id <> ALL ($4::text[])
          AND (s.tenant_id IS NULL OR s.tenant_id <> ALL ($5::text[]))
        ORDER BY x.next_attempt_at, x.id
        LIMIT $2 * 4
      ), due AS (
        SELECT d.id, d.next_attempt_at, d.subscription_id
        FROM ${D} AS d
        WHERE d.id IN (SELECT id FROM candidates)
          AND d.next_attempt_at <= $1::bigint
          AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ${dbNowMs})
        ORDER BY d.next_attempt_at, d.id
        LIMIT $2
        FOR UPDATE OF d SKIP LOCKED`),
    // Releasing gives the row back its place in line: due at its original time (≤ now).
    releaseLeases: `
      UPDATE ${D} AS d SET
        lease_token = NULL,
        lease_expires_at = NULL,
        next_attempt_at = CASE WHEN d.status = 'pending' THEN LEAST(d.next_attempt_at, $3::bigint) END,
        updated_at = $3::bigint
      FROM unnest($1::text[], $2::text[]) AS r(id, token)
      WHERE d.id = r.id AND d.lease_token = r.token`,
    // When the next delivery becomes claimable (see nextDueAt for the clocks), from the
    // head of the due index: `due` is the first pending row not under a live lease (the
    // min() is answered by reading the index in order and stopping at the first match);
    // `lease` is the earliest expiry among the rows in flight ahead of it. No join, for
    // the plan's sake as in the claim: pending rows belong to active subscriptions (a
    // stray one is parked by the next claim).
    nextDue: `
      WITH first AS (
        SELECT min(d.next_attempt_at) AS due FROM ${D} AS d
        WHERE d.next_attempt_at IS NOT NULL AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ${dbNowMs})
      )
      SELECT first.due,
        (SELECT min(d.lease_expires_at) FROM ${D} AS d
         WHERE d.next_attempt_at <= COALESCE(first.due, 9223372036854775807) AND d.lease_expires_at > ${dbNowMs}) AS lease,
        ${dbNowMs} AS db_now
      FROM first`,
  };
}

/** A claim: its `due` CTE (which rows), then the lease, the parking and the joined result. */
function claimSql(t: Tables, due: string): string {
  const { deliveries: D, subscriptions: S, events: E } = t;
  return `${due}
      ), leased AS (
        UPDATE ${D} AS d SET
          lease_token = gen_random_uuid()::text,
          lease_expires_at = ${dbNowMs} + $3::bigint,
          updated_at = $1::bigint
        FROM due JOIN ${S} AS s ON s.id = due.subscription_id
        WHERE d.id = due.id AND s.status = 'active'
        RETURNING ${deliveryColumns('d')}, d.lease_token, d.history_attempts, d.first_failed_at, d.recovered_at
      ), parked AS (
        UPDATE ${D} AS d SET status = ${literalList([hold.status])}, next_attempt_at = ${hold.nextAttemptAt === null ? 'NULL' : hold.nextAttemptAt}, updated_at = $1::bigint
        FROM due JOIN ${S} AS s ON s.id = due.subscription_id
        WHERE d.id = due.id AND s.status <> 'active'
      )
      SELECT l.*,
        e.type AS e_type, e.published_at AS e_published_at, e.payload AS e_payload, e.idempotency_key AS e_idempotency_key,
        e.tenant_id AS e_tenant_id, s.tenant_id AS s_tenant_id, s.all_tenants AS s_all_tenants, s.url AS s_url, s.event_types AS s_event_types, s.secrets AS s_secrets, s.headers AS s_headers,
        s.description AS s_description, s.metadata AS s_metadata, s.status AS s_status,
        s.disabled_reason AS s_disabled_reason, s.disabled_at AS s_disabled_at, s.retry AS s_retry,
        s.flow_control AS s_flow_control, s.failing_since AS s_failing_since,
        s.created_at AS s_created_at, s.updated_at AS s_updated_at
      FROM leased AS l
      JOIN due ON due.id = l.id
      JOIN ${E} AS e ON e.id = l.event_id
      JOIN ${S} AS s ON s.id = l.subscription_id
      ORDER BY due.next_attempt_at, due.id`;
}
