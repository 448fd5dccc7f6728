/**
 * The publish statement (the event and its fan-out, one round trip; two when a target has a
 * payload filter or a transform), the lone NOTIFY that wakes the other instances after it,
 * and reading an event back.
 */
import { eventColumns, subscriptionJson, type Tables } from './sql-parts.js';

// Whether a target receives: without a filter, or accepted by the callback when asked
// ($14 asked, $15 accepted — a target with a transform that nothing rendered is among the
// asked and not the accepted, see postgres-storage.ts #enqueueOn).
const receiving = `CASE WHEN s.id = ANY ($14::text[]) THEN s.id = ANY ($15::text[]) ELSE s.payload_filter IS NULL END`;
const unrendered = `s.transform IS NOT NULL AND NOT (s.id = ANY ($16::text[]))`;

export function enqueueStatements(t: Tables) {
  return {
    // Publish, in one statement:
    // - matched: who receives the event, by receivesTenant of shared/tenancy.ts, read from
    //   the fan-out index: the candidate filters (see candidateFilters) of the event's own
    //   tenant scope ($13, idempotencyScope of its tenant: the subscriptions of its tenant,
    //   or the platform's for a tenantless event) through the (filter, tenant_key,
    //   subscription_id) primary key, and the all-tenant consumers' rows through their
    //   partial index. Other tenants' rows are never read, so the cost follows the
    //   matching subscriptions, not all of them. UNION, because one subscription may hold
    //   several matching filters (`payment.*` and `payment.succeeded`), or match by both
    //   arms (a tenantless all-tenant consumer), and gets one delivery;
    // - targets: those still active, with their tenant: a delivery's tenant is its
    //   subscription's (deliveryTenantId). Looked up by primary key from the array of the
    //   matches (`id = ANY (ARRAY(…))`): with a join the planner, on tables it holds no
    //   statistics of yet (a fresh install, a bulk load autovacuum has not reached), hashed
    //   the matches and read every subscription — 2.6 ms against 0.18 ms with 10,000 of
    //   them, and growing with them. The array's probe is an index read whatever the
    //   statistics say, and its generic plan stays as cheap as the plan for the values (a
    //   lateral probe per match did not: PostgreSQL then planned the statement anew on
    //   every publish). Each with its payload filter, read from the row visited anyway;
    // - payload filters: the storage never reads one; the core's callback decides, asked
    //   by the caller between two runs of this statement (postgres-storage.ts #enqueueOn).
    //   $14 holds the subscriptions asked so far, $15 those the callback accepted. A target
    //   `receiving` has no filter, or was accepted; one asked before keeps that verdict even
    //   if its filter changed or went between the two runs, as if the publish came before
    //   the update. A target with a filter not asked yet is pending (`fit.pending`, its id
    //   and filter): the statement then stores nothing and returns them, and the caller
    //   asks and runs it again with the lists — one more round trip, only when a target
    //   has a filter;
    // - transforms: likewise the storage never runs one. A target with a transform whose
    //   filter is unasked or that receives, and whose payload has not been rendered yet
    //   ($16, the rendered ones; $17 their payloads, aligned), is pending too, with its whole
    //   row as JSON (the columns of SubscriptionRow) for the core's render, asked between
    //   the same two runs as the filters — a filter and a transform together still make two
    //   round trips, not three. The insert stores each rendered payload with its delivery
    //   (`array_position`: NULL, the event's payload, for every other one). A payload
    //   rendered in the first run is stored even if the transform changed or went before
    //   the second, as a filter's verdict is.
    //   A key seen before (the `seen` probe of the idempotency index) leaves nothing to ask
    //   or render: the upsert returns the first event. The probe sits in a CASE branch
    //   reached only for a target `asking`, so a publish without a filter or a transform
    //   never runs it (an InitPlan runs when first needed); a first event committed after it is still caught
    //   by the upsert. Both are read in the one aggregate over the targets that counted
    //   them before: the statement's plan keeps its shape;
    // - the delivery ids come made ahead in $7 (see fan-out-ids.ts); if the deliveries to
    //   insert (`target_count`, the receiving targets) are more, nothing is inserted, and
    //   the caller runs the statement again with enough ids. Atomic either way: nothing is
    //   stored before the run that stores everything;
    // - the unique index events_idempotency, the key within idempotencyScope(tenant_id)
    //   (`COALESCE(tenant_id, '')`, as migration 0003 wrote it: the conflict target names
    //   that expression and the index's predicate), decides between concurrent publishes
    //   of one tenant; the same key in another tenant is another event. DO UPDATE
    //   (a no-op write) rather than DO NOTHING: under READ COMMITTED a publish that waited
    //   for a concurrent one with the same key cannot SEE that row in its own snapshot,
    //   but ON CONFLICT DO UPDATE locks and RETURNS the committed row, so the caller gets
    //   the first event in the same round trip. `id = $1` tells created from found.
    // - pg_notify ($11 true: inside the host's transaction) fires at the host's COMMIT,
    //   never for a rollback. Outside a host transaction we pass false and notify after
    //   the commit instead (see wake-notifier.ts): a NOTIFY inside a writing transaction
    //   makes PostgreSQL serialize its commit, WAL flush included, behind every other
    //   notifying commit (PreCommit_Notify takes a database-wide lock). Measured with
    //   pgbench, 16 clients, the same one-row insert: 14,000 commits/s without, 725/s with.
    enqueue: enqueueSql(t, false),
    // The publish of an event with an ordering key ($18): the same statement, the key stored
    // with the event and its deliveries, each delivery appended to its subscription's key
    // (see enqueueSql). A statement of its own, so an unordered publish keeps its plan.
    enqueueOrdered: enqueueSql(t, true),
    // A lone NOTIFY: a transaction that writes nothing commits without a WAL flush and
    // without holding up anyone's commit.
    notify: `SELECT pg_notify($1::text, $2::text)`,
    getEvent: `SELECT ${eventColumns('e')} FROM ${t.events} AS e WHERE e.id = $1`,
  };
}

/**
 * The publish statement (see `enqueue` above); `ordered`: the event carries an ordering key
 * ($18), which the event row and its deliveries take, and each delivery is appended to its
 * subscription's key (storage/shared/ordering.ts's appendToKey, in SQL):
 * - keyed: one upsert of ordering_keys per receiving target, in subscription id order (the
 *   order every writer that locks several keys takes them in, so two publishes, or a
 *   publish and a settle, cannot deadlock on them). A new key starts at 1, its head; an
 *   existing one gives the next number. ON CONFLICT DO UPDATE locks the key's row and
 *   builds on its latest committed version, not on the statement's snapshot: two publishes
 *   of one key number one after the other, and a head moved by a settle that committed after
 *   this statement began is seen. The lock is held to the commit (the host's, with `tx`), so
 *   whoever moves the head waits for it and, reading the key's deliveries after that, sees
 *   this publish's delivery;
 * - the delivery is due at once iff its number is the head's (`last_seq = head_seq`: the key
 *   was idle or new), else it waits: pending with next_attempt_at NULL, in no due index.
 */
function enqueueSql(t: Tables, ordered: boolean): string {
  const key = ordered
    ? {
        column: ', ordering_key',
        value: ', $18::text',
        cte: `), keyed AS (
        INSERT INTO ${t.orderingKeys} AS k (subscription_id, ordering_key, last_seq, head_seq)
        SELECT n.subscription_id, $18::text, 1, 1
        FROM upserted AS u CROSS JOIN numbered AS n
        WHERE u.id = $1::text
        ORDER BY n.subscription_id
        ON CONFLICT (subscription_id, ordering_key) DO UPDATE SET last_seq = k.last_seq + 1
        RETURNING k.subscription_id, k.last_seq, k.head_seq
      `,
        deliveryColumns: ', ordering_key, ordering_seq',
        due: 'CASE WHEN k.last_seq = k.head_seq THEN $8::bigint END',
        deliveryValues: ', $18::text, k.last_seq',
        join: ' JOIN keyed AS k ON k.subscription_id = n.subscription_id',
      }
    : { column: '', value: '', cte: '', deliveryColumns: '', due: '$8::bigint', deliveryValues: '', join: '' };
  return `
      WITH matched AS (
        SELECT f.subscription_id FROM ${t.filters} AS f
        WHERE f.filter = ANY ($6::text[]) AND f.tenant_key = $13::text
        UNION
        SELECT f.subscription_id FROM ${t.filters} AS f
        WHERE f.filter = ANY ($6::text[]) AND f.all_tenants
      ), targets AS (
        SELECT s.id AS subscription_id, s.tenant_id, s.payload_filter, ${receiving} AS receiving,
          (s.payload_filter IS NOT NULL AND NOT (s.id = ANY ($14::text[]))) OR (${unrendered} AND ${receiving}) AS asking,
          CASE WHEN ${unrendered} THEN ${subscriptionJson('s')} END AS subscription
        FROM ${t.subscriptions} AS s
        WHERE s.id = ANY (ARRAY(SELECT m.subscription_id FROM matched AS m)) AND s.status = 'active'
      ), numbered AS (
        SELECT t.subscription_id, t.tenant_id, row_number() OVER (ORDER BY t.subscription_id) AS n FROM targets AS t
        WHERE t.receiving
      ), fit AS (
        SELECT count(*) FILTER (WHERE t.receiving) AS target_count,
          json_agg(json_build_array(t.subscription_id, t.payload_filter, t.subscription)) FILTER (
            WHERE CASE WHEN NOT t.asking THEN false
              ELSE NOT EXISTS (
                SELECT 1 FROM ${t.events} AS seen
                WHERE COALESCE(seen.tenant_id, '') = $13::text AND seen.idempotency_key = $5::text
              ) END
          ) AS pending
        FROM targets AS t
      ), upserted AS (
        INSERT INTO ${t.events} AS e (id, type, published_at, payload, idempotency_key, tenant_id${key.column})
        SELECT $1::text, $2::text, $3::bigint, $4::text, $5::text, $12::text${key.value} FROM fit
        WHERE fit.target_count <= cardinality($7::text[]) AND fit.pending IS NULL
        ON CONFLICT ((COALESCE(tenant_id, '')), idempotency_key) WHERE idempotency_key IS NOT NULL
        DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
        RETURNING ${eventColumns('e')}
      ${key.cte}), fanned AS (
        INSERT INTO ${t.deliveries} (id, event_id, event_type, subscription_id, tenant_id, status, attempts,
          next_attempt_at, created_at, updated_at, payload${key.deliveryColumns})
        SELECT ($7::text[])[n.n::integer], u.id, u.type, n.subscription_id, n.tenant_id, 'pending', 0,
          ${key.due}, $8::bigint, $8::bigint, ($17::text[])[array_position($16::text[], n.subscription_id)]${key.deliveryValues}
        FROM upserted AS u CROSS JOIN numbered AS n${key.join}
        WHERE u.id = $1::text
        RETURNING 1
      ), woken AS (
        SELECT pg_notify($9::text, $10::text) FROM (SELECT 1 FROM fanned LIMIT 1) AS any_delivery
        WHERE $11::boolean
      )
      SELECT fit.target_count, fit.pending, ${eventColumns('u')},
        (SELECT count(*) FROM fanned) AS delivery_count,
        (SELECT count(*) FROM woken) AS notified
      FROM fit LEFT JOIN upserted AS u ON true`;
}
