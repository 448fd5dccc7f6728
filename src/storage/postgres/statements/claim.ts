/**
 * The dispatcher's statements besides the settle: claim a batch of due deliveries under
 * leases (one round trip), give leases back, and say when the next delivery is due. The
 * shapes are chosen for the plan; each comment says what the shape buys.
 */
import { openDeliveryUpdate } from '../../shared/open-deliveries.js';
import { CANCELLED_BY_DELETE } from '../../storage-adapter.js';
import { quoteLiteral } from '../migrations/index.js';
import { cancelledStatus, dbNowMs, deliveryColumns, type Tables } from './sql-parts.js';

// A stray pending delivery of a disabled subscription is parked as the disable would have
// held it; of a soft-deleted one, cancelled as the delete would have cancelled it.
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
    //   lease expiring by the database clock, and nothing else: no column any index of
    //   the deliveries uses changes, so the update is HOT where the page has room (the
    //   fillfactor in the migration) and adds no index entry. PostgreSQL refuses HOT when
    //   any indexed column changes, a partial index's included, whether or not the row
    //   is in it: updated_at (in deliveries_final_at, 0006) is why the lease leaves it
    //   as it was (test/storage/postgres/postgres-storage.test.ts counts the HOT updates).
    // - parked: a pending row of a disabled subscription (a publish that read the
    //   subscription as active just before a concurrent disable committed) is held here,
    //   as the disable would have done, instead of being sent or stepped over forever; of
    //   a soft-deleted one (the same race with a delete), cancelled as the delete would have.
    // - the final SELECT joins the event and the subscription, so the dispatcher has all
    //   it needs to sign and post, ordered oldest due first.
    claim: claimSql(t, `
      WITH due AS (
        SELECT d.id, d.next_attempt_at, d.subscription_id
        FROM ${D} AS d
        WHERE ${claimable('d')}
        ORDER BY d.next_attempt_at, d.id
        LIMIT $2
        FOR UPDATE OF d SKIP LOCKED`),
    // The claim when some subscriptions ($4) or tenants ($5) must be skipped: the same
    // lease, parking and result, of the rows excludingDue picks.
    claimExcluding: claimSql(t, excludingDue(t)),
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

/** No live lease, by the database clock, where the lease expiry is `expiresAt` (see the `claim` statement). */
function leaseFree(expiresAt: string): string {
  return `(${expiresAt} IS NULL OR ${expiresAt} <= ${dbNowMs})`;
}

/** A row of `d` a claim may take: due by the caller's clock ($1) and free of a live lease. */
function claimable(d: string): string {
  return `${d}.next_attempt_at <= $1::bigint AND ${leaseFree(`${d}.lease_expires_at`)}`;
}

// How far the excluding claim reads the head of deliveries_due before it turns to the
// subscriptions, and how many candidates it gathers, in rows per row asked for ($2).
const windowRowsPerLimit = 16;
const candidatesPerLimit = 4;

/**
 * The `due` CTE of the claim that skips subscriptions ($4) and tenants ($5). It costs what
 * the claim takes, not the number of subscriptions, and never the length of a skipped
 * backlog: the backlog of a subscription at its concurrency cap or behind an open breaker
 * typically sits at the head of the due order, and walking deliveries_due past it would
 * cost every claim its length.
 *
 * - open: the head of deliveries_due read as the plain claim reads it, but no further than
 *   a window of $2 × 16 rows, up to $2 × 4 rows not skipped. A delivery's tenant is its
 *   subscription's (deliveryTenantId of shared/tenancy.ts), so a tenant is skipped by the
 *   row's own tenant_id, and the platform's rows (NULL) never are. The window is a prefix
 *   of the claimable rows in due order, so the rows it keeps are the oldest; the read
 *   stops once it has them, so with little skipped at the head a claim reads about what
 *   the plain claim reads. The window's last row is kept too, skipped or not (`position`),
 *   so the same read says whether the window was full.
 * - Only when the window was full and holds fewer than $2 rows not skipped (a skipped
 *   backlog at the head) does the claim go per subscription; the gate is an InitPlan over
 *   `open` in a one-time filter, so nothing below it runs otherwise. The gate reads nothing
 *   of its own on purpose: a second read of the window, whose LIMIT a generic plan cannot
 *   see (it costs it as a tenth of the rows), would price the generic plan so far above the
 *   custom ones that PostgreSQL would plan this long statement anew on every call.
 *   - pending: the subscriptions that have pending rows, each with its first, by a skip
 *     scan of deliveries_subscription_due (a descent per subscription). A subscription
 *     with nothing pending costs nothing, which is why this is not driven from the
 *     subscriptions table: most of a large host's subscriptions have nothing pending.
 *   - heads: the first claimable row of each due subscription not skipped: its first
 *     pending row, unless that one is in flight (then a seek past its rows in flight). A
 *     skipped subscription costs its descent in `pending` and nothing more; a skipped
 *     tenant's subscriptions come from subscriptions_tenant. Only the subscriptions of the
 *     $2 × 4 oldest heads can hold any of the $2 × 4 oldest claimable rows (a
 *     subscription with an older row has an older head), so only they are read further.
 *   - fallback: the first $2 × 4 claimable rows of each of those, the oldest $2 × 4 of all.
 * - due: locks the oldest $2 candidates as the plain claim does (FOR UPDATE SKIP LOCKED,
 *   the lease re-checked on a row's latest version), through the primary key by an array
 *   of ids: joined any other way, the planner, without statistics on a fresh table, may
 *   read every pending row to match them. Candidates are not locked, so a claimer racing
 *   on the same ones may get fewer rows than it asked for (never a row twice); four
 *   times the limit leaves room for that. Like the plain claim's, nothing here joins the
 *   subscriptions: a stray pending row of a disabled subscription is parked by claimSql.
 */
function excludingDue(t: Tables): string {
  const { deliveries: D, subscriptions: S } = t;
  const windowRows = `$2 * ${windowRowsPerLimit}`;
  // The first pending row of the first subscription matching `where`: the skip scan's step.
  const firstPending = (where: string) => `
          SELECT d.subscription_id AS id, d.next_attempt_at AS first_at, d.id AS first_id, d.lease_expires_at AS first_lease
          FROM ${D} AS d
          WHERE ${where}
          ORDER BY d.subscription_id, d.next_attempt_at, d.id
          LIMIT 1`;
  // The first `rows` claimable rows of the subscription `p.id`, when `when` holds.
  const firstClaimable = (rows: string, when: string) => `
          SELECT d.id, d.next_attempt_at
          FROM ${D} AS d
          WHERE d.subscription_id = p.id AND ${claimable('d')}${when}
          ORDER BY d.next_attempt_at, d.id
          LIMIT ${rows}`;
  return `
      WITH RECURSIVE open AS (
        SELECT w.id, w.skipped, w.position
        FROM (
          SELECT d.id, d.next_attempt_at,
            d.subscription_id = ANY ($4::text[]) OR (d.tenant_id IS NOT NULL AND d.tenant_id = ANY ($5::text[])) AS skipped,
            row_number() OVER (ORDER BY d.next_attempt_at, d.id) AS position
          FROM (
            SELECT d.id, d.next_attempt_at, d.subscription_id, d.tenant_id
            FROM ${D} AS d
            WHERE ${claimable('d')}
            ORDER BY d.next_attempt_at, d.id
            LIMIT ${windowRows}
          ) AS d
        ) AS w
        WHERE NOT w.skipped OR w.position = ${windowRows}
        ORDER BY w.next_attempt_at, w.id
        LIMIT $2 * ${candidatesPerLimit}
      ), pending AS (
        (${firstPending('d.next_attempt_at IS NOT NULL')})
        UNION ALL
        SELECT n.*
        FROM pending AS p
        CROSS JOIN LATERAL (${firstPending('d.next_attempt_at IS NOT NULL AND d.subscription_id > p.id')}
        ) AS n
      ), skipped AS (
        SELECT unnest($4::text[]) AS id
        UNION ALL
        SELECT s.id FROM ${S} AS s WHERE s.tenant_id = ANY ($5::text[])
      ), heads AS (
        SELECT p.id
        FROM pending AS p
        CROSS JOIN LATERAL (
          SELECT p.first_id AS id, p.first_at AS next_attempt_at
          WHERE ${leaseFree('p.first_lease')}
          UNION ALL
          (${firstClaimable('1', ` AND NOT ${leaseFree('p.first_lease')}`)})
        ) AS h
        WHERE (SELECT count(*) FILTER (WHERE NOT skipped) < $2 AND bool_or(position = ${windowRows}) FROM open)
          AND p.first_at <= $1::bigint AND p.id NOT IN (SELECT id FROM skipped)
        ORDER BY h.next_attempt_at, h.id
        LIMIT $2 * ${candidatesPerLimit}
      ), fallback AS (
        SELECT x.id
        FROM heads AS p
        CROSS JOIN LATERAL (${firstClaimable(`$2 * ${candidatesPerLimit}`, '')}
        ) AS x
        ORDER BY x.next_attempt_at, x.id
        LIMIT $2 * ${candidatesPerLimit}
      ), due AS (
        SELECT d.id, d.next_attempt_at, d.subscription_id
        FROM ${D} AS d
        WHERE d.id = ANY (ARRAY(SELECT id FROM open WHERE NOT skipped UNION ALL SELECT id FROM fallback))
          AND ${claimable('d')}
        ORDER BY d.next_attempt_at, d.id
        LIMIT $2
        FOR UPDATE OF d SKIP LOCKED`;
}

/** A claim: its `due` CTE (which rows), then the lease, the parking and the joined result. */
function claimSql(t: Tables, due: string): string {
  const { deliveries: D, subscriptions: S, events: E } = t;
  return `${due}
      ), leased AS (
        UPDATE ${D} AS d SET
          lease_token = gen_random_uuid()::text,
          lease_expires_at = ${dbNowMs} + $3::bigint
        FROM due JOIN ${S} AS s ON s.id = due.subscription_id
        WHERE d.id = due.id AND s.status = 'active'
        RETURNING ${deliveryColumns('d')}, d.lease_token, d.history_attempts, d.first_failed_at, d.recovered_at,
          d.payload AS own_payload
      ), parked AS (
        UPDATE ${D} AS d SET
          status = CASE WHEN s.deleted_at IS NULL THEN ${quoteLiteral(hold.status)} ELSE ${quoteLiteral(cancelledStatus)} END,
          next_attempt_at = ${hold.nextAttemptAt === null ? 'NULL' : hold.nextAttemptAt},
          last_error = CASE WHEN s.deleted_at IS NULL THEN d.last_error ELSE ${quoteLiteral(CANCELLED_BY_DELETE)} END,
          cancelled_at = CASE WHEN s.deleted_at IS NULL THEN d.cancelled_at ELSE $1::bigint END,
          updated_at = $1::bigint
        FROM due JOIN ${S} AS s ON s.id = due.subscription_id
        WHERE d.id = due.id AND s.status <> 'active'
      )
      SELECT ${deliveryColumns('l')}, l.lease_token, l.history_attempts, l.first_failed_at, l.recovered_at,
        e.type AS e_type, e.published_at AS e_published_at, COALESCE(l.own_payload, e.payload) AS e_payload, e.idempotency_key AS e_idempotency_key,
        e.tenant_id AS e_tenant_id, e.expunged_at AS e_expunged_at, e.ordering_key AS e_ordering_key, s.tenant_id AS s_tenant_id, s.all_tenants AS s_all_tenants, s.url AS s_url, s.event_types AS s_event_types, s.payload_filter AS s_payload_filter, s.transform AS s_transform, s.ordering_on_dead AS s_ordering_on_dead, s.event_versions AS s_event_versions, s.secrets AS s_secrets, s.headers AS s_headers,
        s.description AS s_description, s.metadata AS s_metadata, s.status AS s_status,
        s.disabled_reason AS s_disabled_reason, s.disabled_at AS s_disabled_at, s.retry AS s_retry,
        s.flow_control AS s_flow_control, s.tls AS s_tls, s.failing_since AS s_failing_since, s.deleted_at AS s_deleted_at,
        s.created_at AS s_created_at, s.updated_at AS s_updated_at
      FROM leased AS l
      JOIN due ON due.id = l.id
      JOIN ${E} AS e ON e.id = l.event_id
      JOIN ${S} AS s ON s.id = l.subscription_id
      ORDER BY due.next_attempt_at, due.id`;
}
