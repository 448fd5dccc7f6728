/**
 * `bookkeeper-webhooks deliveries list|show|attempts|tests|redeliver|replay|blocked|skip`: the
 * delivery-log API (`webhooks.deliveries`) and a subscription's test log
 * (`subscriptions.testAttempts`) on the app's store, from a terminal.
 */
import type { Webhooks } from '../../create-webhooks.js';
import type { ListDeliveriesQuery } from '../../delivery-log.js';
import type { EventCatalog } from '../../events/catalog.js';
import { failingSinceNeutralClasses } from '../../storage/shared/settlement.js';
import type { AttemptErrorClass, AttemptRecord, DeliveryRecord, DeliveryStatus, TestAttemptRecord } from '../../storage/storage-adapter.js';
import { booleanFlag, jsonOption, requiredFlag, stringFlag, stringFlags, type Command, type CommandArgs } from '../command.js';
import type { CliIo } from '../cli-io.js';
import { confirm } from '../confirm.js';
import { PAYLOAD_KEY_ENV, storageHelp, storageOption, withStore } from '../open-store.js';
import { textTable } from '../text-table.js';
import { parseTimeFlag } from '../time-flag.js';
import { UsageError } from '../usage-error.js';

const statuses: readonly DeliveryStatus[] = ['pending', 'held', 'delivered', 'dead', 'cancelled'];

function time(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

function printJson(io: CliIo, value: unknown): number {
  io.out(JSON.stringify(value, null, 2));
  return 0;
}

export const deliveriesListCommand: Command = {
  name: 'deliveries list',
  summary: 'List deliveries, newest first (filters: subscription, status, event type, time)',
  positionals: [],
  options: {
    ...storageOption,
    subscription: { type: 'string' },
    status: { type: 'string', multiple: true },
    'event-type': { type: 'string', multiple: true },
    event: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    ...jsonOption,
  },
  help: `Usage: bookkeeper-webhooks deliveries list --storage <store> [filters]

Options:
  ${storageHelp}
  --subscription <id>     deliveries to this subscription
  --status <status>       ${statuses.join(', ')}; repeatable
  --event-type <type>     an exact event type; repeatable
  --event <id>            deliveries of this event
  --since <time>          created at or after: ISO 8601 with its zone (…Z, …+02:00),
                          a date (midnight UTC) or a duration ago (30m, 6h, 7d)
  --until <time>          created before
  --limit <n>             page size, 1 to 1000 (default 100)
  --cursor <cursor>       the next page, as printed after a full page
  --json                  print { items, nextCursor }
  -h, --help              show this help`,

  async run(args, io) {
    const query = listQuery(args, this);
    const page = await withStore(args, io, this, (webhooks) => webhooks.deliveries.list(query));
    if (booleanFlag(args, 'json')) return printJson(io, page);
    if (page.items.length === 0) {
      io.out('No deliveries.');
      return 0;
    }
    const rows = page.items.map((delivery) => [delivery.id, delivery.status, delivery.eventType, delivery.subscriptionId, String(delivery.attempts), String(delivery.lastStatusCode ?? '-'), time(delivery.createdAt)]);
    io.out(textTable(['ID', 'STATUS', 'EVENT TYPE', 'SUBSCRIPTION', 'ATTEMPTS', 'LAST', 'CREATED'], rows));
    if (page.nextCursor !== null) io.out(io.style.dim(`More: --cursor ${page.nextCursor}`));
    return 0;
  },
};

function listQuery(args: CommandArgs, command: Command): ListDeliveriesQuery {
  const query: ListDeliveriesQuery = {};
  const subscription = stringFlag(args, 'subscription');
  if (subscription !== undefined) query.subscriptionId = subscription;
  const status = stringFlags(args, 'status');
  for (const value of status) {
    if (!(statuses as readonly string[]).includes(value)) throw new UsageError(`Expected --status to be one of ${statuses.join(', ')}, got ${JSON.stringify(value)}`, command.name);
  }
  if (status.length > 0) query.status = status as DeliveryStatus[];
  const types = stringFlags(args, 'event-type');
  if (types.length > 0) query.eventType = types;
  const event = stringFlag(args, 'event');
  if (event !== undefined) query.eventId = event;
  const since = stringFlag(args, 'since');
  if (since !== undefined) query.since = parseTimeFlag(since, '--since', command.name);
  const until = stringFlag(args, 'until');
  if (until !== undefined) query.until = parseTimeFlag(until, '--until', command.name);
  return { ...query, ...pageFlags(args, command) };
}

/** `--limit` (1 to 1000) and `--cursor` of a paged read. */
function pageFlags(args: CommandArgs, command: Command): { limit?: number; cursor?: string } {
  const page: { limit?: number; cursor?: string } = {};
  const limit = stringFlag(args, 'limit');
  if (limit !== undefined) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000) throw new UsageError(`Expected --limit to be a whole number from 1 to 1000, got ${JSON.stringify(limit)}`, command.name);
    page.limit = Number(limit);
  }
  const cursor = stringFlag(args, 'cursor');
  if (cursor !== undefined) page.cursor = cursor;
  return page;
}

export const deliveriesShowCommand: Command = {
  name: 'deliveries show',
  summary: 'Show one delivery',
  positionals: ['delivery-id'],
  options: { ...storageOption, ...jsonOption },
  help: `Usage: bookkeeper-webhooks deliveries show <delivery-id> --storage <store> [--json]

Options:
  ${storageHelp}
  --json                  print the delivery record
  -h, --help              show this help

Exits 1 when there is no such delivery (DELIVERY_NOT_FOUND).`,

  async run(args, io) {
    const [id] = args.positionals as [string];
    const delivery = await withStore(args, io, this, (webhooks) => webhooks.deliveries.get(id));
    if (delivery === null) {
      io.err(`${io.errorStyle.red(io.errorStyle.bold('error'))} DELIVERY_NOT_FOUND: No delivery with id ${JSON.stringify(id)}`);
      return 1;
    }
    if (booleanFlag(args, 'json')) return printJson(io, delivery);
    printDelivery(io, delivery);
    return 0;
  },
};

function printDelivery(io: CliIo, delivery: DeliveryRecord): void {
  const { bold } = io.style;
  const fields: Array<[string, string]> = [
    ['status', delivery.status],
    ['event', `${delivery.eventType} ${delivery.eventId}`],
    ['subscription', delivery.subscriptionId],
    ['attempts', String(delivery.attempts)],
    ['last attempt', `${time(delivery.lastAttemptAt)}${delivery.lastStatusCode === null ? '' : ` (HTTP ${delivery.lastStatusCode})`}`],
    ['last error', delivery.lastError ?? '-'],
    ['next attempt', time(delivery.nextAttemptAt)],
    ['delivered', time(delivery.deliveredAt)],
    ['created', time(delivery.createdAt)],
  ];
  // A pending delivery with no next attempt waits behind its key's head: the key says which.
  if (delivery.orderingKey !== null) fields.splice(3, 0, ['ordering key', `${delivery.orderingKey} #${delivery.orderingSequence}`]);
  io.out(bold(delivery.id));
  for (const [name, value] of fields) io.out(`  ${name.padEnd(14)}${value}`);
}

export const deliveriesAttemptsCommand: Command = {
  name: 'deliveries attempts',
  summary: "List a delivery's attempts, oldest first",
  positionals: ['delivery-id'],
  options: { ...storageOption, ...jsonOption },
  help: `Usage: bookkeeper-webhooks deliveries attempts <delivery-id> --storage <store> [--json]

Options:
  ${storageHelp}
  --json                  print the attempt records
  -h, --help              show this help`,

  async run(args, io) {
    const [id] = args.positionals as [string];
    const attempts = await withStore(args, io, this, (webhooks) => webhooks.deliveries.attempts(id));
    if (booleanFlag(args, 'json')) return printJson(io, attempts);
    if (attempts.length === 0) {
      io.out('No attempts yet.');
      return 0;
    }
    io.out(textTable(['#', 'STARTED', 'MS', 'STATUS', 'OUTCOME', 'ERROR'], attempts.map(attemptRow)));
    return 0;
  },
};

/**
 * An attempt's error as a cell: its message (or class), and for a class that says nothing of
 * the endpoint (`proxy`: the sender's own egress proxy failed) that it is not counted against it.
 */
function errorCell(errorClass: AttemptErrorClass | null, message: string | null): string {
  const neutral = errorClass !== null && failingSinceNeutralClasses.includes(errorClass);
  return `${message ?? errorClass ?? ''}${neutral ? ` (${errorClass} failure — not counted against the endpoint)` : ''}`;
}

function attemptRow(attempt: AttemptRecord): string[] {
  const error = errorCell(attempt.errorClass, attempt.errorMessage);
  return [String(attempt.attemptNumber), time(attempt.startedAt), String(Math.round(attempt.durationMs)), String(attempt.statusCode ?? '-'), attempt.outcome, error];
}

export const deliveriesTestsCommand: Command = {
  name: 'deliveries tests',
  summary: "List a subscription's test requests (send-test, URL-change checks), newest first",
  positionals: ['subscription-id'],
  options: { ...storageOption, limit: { type: 'string' }, cursor: { type: 'string' }, ...jsonOption },
  help: `Usage: bookkeeper-webhooks deliveries tests <subscription-id> --storage <store> [--limit <n>] [--json]

The subscription's test log: each signed test request sent to its endpoint
outside the retry machinery — by \`send-test\` or sendTest() (reason test), or
before a verified URL change (reason url_change, to the new URL) — with what
came of it. Newest first.

Options:
  ${storageHelp}
  --limit <n>             page size, 1 to 1000 (default 100)
  --cursor <cursor>       the next page, as printed after a full page
  --json                  print { items, nextCursor }
  -h, --help              show this help

Exits 1 when there is no such subscription (SUBSCRIPTION_NOT_FOUND).`,

  async run(args, io) {
    const [id] = args.positionals as [string];
    const query = pageFlags(args, this);
    const page = await withStore(args, io, this, (webhooks) => webhooks.subscriptions.testAttempts(id, query));
    if (booleanFlag(args, 'json')) return printJson(io, page);
    if (page.items.length === 0) {
      io.out('No test requests.');
      return 0;
    }
    io.out(textTable(['ID', 'STARTED', 'TYPE', 'REASON', 'STATUS', 'MS', 'ACTOR', 'ERROR'], page.items.map(testAttemptRow)));
    if (page.nextCursor !== null) io.out(io.style.dim(`More: --cursor ${page.nextCursor}`));
    return 0;
  },
};

function testAttemptRow(attempt: TestAttemptRecord): string[] {
  return [
    attempt.id,
    time(attempt.startedAt),
    attempt.type,
    attempt.reason,
    String(attempt.statusCode ?? '-'),
    String(Math.round(attempt.durationMs)),
    attempt.actor ?? '-',
    errorCell(attempt.errorClass, attempt.error),
  ];
}

export const deliveriesRedeliverCommand: Command = {
  name: 'deliveries redeliver',
  summary: 'Send a delivery again now (a dead or delivered one, or a pending one early)',
  positionals: ['delivery-id'],
  options: { ...storageOption, wait: { type: 'boolean' }, 'timeout-ms': { type: 'string' }, ...jsonOption },
  help: `Usage: bookkeeper-webhooks deliveries redeliver <delivery-id> --storage <store> [--wait [--timeout-ms 60000]]

Makes the delivery due now with a fresh attempt cycle; the app's running
dispatcher sends it (this command does not post anything itself). With --wait,
waits until that happens and prints the outcome: exit 0 when delivered, 1 when
it is dead again or still pending after the timeout (is the app running?).

Options:
  ${storageHelp}
  --wait                  wait for the dispatcher to settle it
  --timeout-ms <ms>       how long --wait waits (default 60000)
  --json                  print the delivery record (after the wait, with --wait)
  -h, --help              show this help`,

  async run(args, io) {
    const [id] = args.positionals as [string];
    const timeoutMs = waitTimeout(args, this);
    return withStore(args, io, this, async (webhooks) => {
      const marked = await webhooks.deliveries.redeliver(id);
      const delivery = timeoutMs === null ? marked : await settled(webhooks, id, timeoutMs);
      if (booleanFlag(args, 'json')) printJson(io, delivery);
      else if (timeoutMs === null) io.out(`${delivery.id} is due again: the app's dispatcher sends it next.`);
      else printDelivery(io, delivery);
      return timeoutMs === null || delivery.status === 'delivered' ? 0 : 1;
    });
  },
};

function waitTimeout(args: CommandArgs, command: Command): number | null {
  const value = stringFlag(args, 'timeout-ms');
  if (!booleanFlag(args, 'wait')) {
    if (value !== undefined) throw new UsageError('Expected --timeout-ms only with --wait, got it without', command.name);
    return null;
  }
  if (value === undefined) return 60_000;
  if (!/^\d{1,7}$/.test(value) || Number(value) < 1) throw new UsageError(`Expected --timeout-ms to be whole milliseconds ≥ 1, got ${JSON.stringify(value)}`, command.name);
  return Number(value);
}

/** Polls until the delivery leaves `pending` (the dispatcher settled it) or `timeoutMs` passes. */
async function settled(webhooks: Webhooks<EventCatalog>, id: string, timeoutMs: number): Promise<DeliveryRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const delivery = (await webhooks.deliveries.get(id))!;
    // A retry scheduled after a failed attempt is settled too: the answer is in.
    if (delivery.status !== 'pending' || (delivery.attempts > 0 && delivery.leaseExpiresAt === null) || Date.now() >= deadline) return delivery;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export const deliveriesBlockedCommand: Command = {
  name: 'deliveries blocked',
  summary: "List a subscription's ordering keys held by a dead delivery",
  positionals: [],
  options: { ...storageOption, subscription: { type: 'string' }, ...jsonOption },
  help: `Usage: bookkeeper-webhooks deliveries blocked --subscription <id> --storage <store> [--json]

Lists the ordering keys of the subscription whose dead delivery holds the
deliveries behind it (its policy is ordering: { onDead: 'block' }), oldest first:
the key, the blocking delivery and how many wait. \`deliveries redeliver\` or
\`deliveries skip\` the delivery to let the key go on.

Options:
  ${storageHelp}
  --subscription <id>     the subscription
  --json                  print every page's items
  -h, --help              show this help`,

  async run(args, io) {
    const subscriptionId = requiredFlag(args, this, 'subscription', '<id>');
    const items = await withStore(args, io, this, async (webhooks) => {
      const all = [];
      let cursor: string | undefined;
      do {
        const page = await webhooks.deliveries.blockedKeys({ subscriptionId, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
        all.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      return all;
    });
    if (booleanFlag(args, 'json')) return printJson(io, items);
    if (items.length === 0) {
      io.out('No blocked keys.');
      return 0;
    }
    io.out(
      textTable(
        ['KEY', 'DELIVERY', 'EVENT TYPE', 'SEQ', 'DEAD SINCE', 'WAITING'],
        items.map(({ orderingKey, delivery, waiting }) => [orderingKey, delivery.id, delivery.eventType, String(delivery.orderingSequence), time(delivery.updatedAt), String(waiting)]),
      ),
    );
    return 0;
  },
};

export const deliveriesSkipCommand: Command = {
  name: 'deliveries skip',
  summary: 'Let an ordering key go on past its dead delivery',
  positionals: ['delivery-id'],
  options: { ...storageOption, ...jsonOption },
  help: `Usage: bookkeeper-webhooks deliveries skip <delivery-id> --storage <store> [--json]

The delivery stays dead; the next delivery of its ordering key is due at once
and the app's dispatcher sends it. Refused (DELIVERY_NOT_BLOCKING) for a delivery
that does not hold its key. See \`deliveries blocked\`.

Options:
  ${storageHelp}
  --json                  print the delivery record
  -h, --help              show this help`,

  async run(args, io) {
    const [id] = args.positionals as [string];
    const delivery = await withStore(args, io, this, (webhooks) => webhooks.deliveries.skip(id));
    if (booleanFlag(args, 'json')) return printJson(io, delivery);
    io.out(`${delivery.id} skipped: the next delivery of ${delivery.orderingKey} is due.`);
    return 0;
  },
};

export const deliveriesReplayCommand: Command = {
  name: 'deliveries replay',
  summary: 'Re-send to a subscription every event of a window it did not get',
  positionals: [],
  options: { ...storageOption, subscription: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, yes: { type: 'boolean', short: 'y' }, ...jsonOption },
  help: `Usage: bookkeeper-webhooks deliveries replay --subscription <id> --since <time> [--until <time>] --storage <store> [--yes]

Counts the events of the window the subscription did not get (dead or missing
deliveries) and, once confirmed, makes them due again; the app's dispatcher
sends them. Asks for confirmation on a terminal; without one, --yes is required.
A subscription with a payload filter is judged on the events' payloads: when
they are sealed at rest (security.payloadKey), give the key in
${PAYLOAD_KEY_ENV} (the base64 key, or the key list as JSON).

Options:
  ${storageHelp}
  --subscription <id>     the subscription to replay to
  --since <time>          window start: ISO 8601 with its zone (…Z, …+02:00),
                          a date (midnight UTC) or a duration ago (30m, 6h, 7d)
  --until <time>          window end (default: now)
  -y, --yes               replay without asking
  --json                  print { count, dryRun }
  -h, --help              show this help`,

  async run(args, io) {
    const subscriptionId = requiredFlag(args, this, 'subscription', '<subscription-id>');
    const since = parseTimeFlag(requiredFlag(args, this, 'since', '<time>'), '--since', this.name);
    const untilFlag = stringFlag(args, 'until');
    const window = { subscriptionId, since, ...(untilFlag === undefined ? {} : { until: parseTimeFlag(untilFlag, '--until', this.name) }) };
    const yes = booleanFlag(args, 'yes');
    return withStore(args, io, this, async (webhooks) => {
      const { count } = await webhooks.deliveries.replay({ ...window, dryRun: true });
      const json = booleanFlag(args, 'json');
      if (count === 0) {
        if (json) printJson(io, { count, dryRun: true });
        else io.out('Nothing to replay: the subscription got every event of the window.');
        return 0;
      }
      if (!yes) {
        if (io.stdin.isTTY !== true) {
          throw new UsageError(`Expected --yes to replay ${count} event(s) without a terminal to confirm on, got no --yes`, this.name);
        }
        if (!(await confirm(io, `Replay ${count} event(s) to ${subscriptionId}?`))) {
          io.out('Nothing replayed.');
          return 1;
        }
      }
      const replayed = await webhooks.deliveries.replay(window);
      if (json) printJson(io, { count: replayed.count, dryRun: false });
      else io.out(`${replayed.count} event(s) due again for ${subscriptionId}: the app's dispatcher sends them.`);
      return 0;
    });
  },
};
