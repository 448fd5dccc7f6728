/**
 * `bookkeeper-webhooks trigger`: sends one signed event to a URL exactly as the dispatcher
 * sends deliveries — it is the dispatcher: an in-memory webhooks instance with one
 * subscription (the URL and the given secret), one publish of the type's example (with
 * overrides, validated by the catalog like any publish) and one attempt. The envelope
 * bytes, headers, signature and transport are the library's own; the catalog is
 * Bookkeeper's, or the host's with `--catalog`.
 */
import { createWebhooks } from '../../create-webhooks.js';
import type { EventCatalog } from '../../events/catalog.js';
import type { AttemptRecord } from '../../storage/storage-adapter.js';
import { booleanFlag, jsonOption, requiredFlag, stringFlag, stringFlags, type Command, type CommandArgs } from '../command.js';
import { catalogHelp, catalogOf, catalogOption } from '../catalog-flag.js';
import type { CliIo } from '../cli-io.js';
import { readInputFile } from '../read-input.js';
import { secretHelp, secretsOf } from '../secrets-flag.js';
import { applySetOverride, parseSetOverride } from '../set-path.js';
import { UsageError } from '../usage-error.js';

/** The attempt log keeps this much of a response body: the most `http.responseSnippetBytes` allows. */
const RESPONSE_BODY_BYTES = 16_384;

export const triggerCommand: Command = {
  name: 'trigger',
  summary: 'Send a signed test event of a type to a URL, as the dispatcher sends it',
  positionals: ['event-type'],
  options: {
    to: { type: 'string' },
    secret: { type: 'string' },
    data: { type: 'string' },
    set: { type: 'string', multiple: true },
    metadata: { type: 'string', multiple: true },
    'ordering-key': { type: 'string' },
    'timeout-ms': { type: 'string' },
    ...catalogOption,
    ...jsonOption,
  },
  help: `Usage: bookkeeper-webhooks trigger <event-type> --to <url> --secret <whsec_…> [--data <file.json>] [--set path=value …] [--metadata key=value …] [--ordering-key <key>] [--catalog <module>]

Sends one event of <event-type> to <url>, signed with the secret, exactly as a
delivery is sent (same envelope, headers, signature and HTTP client), and prints
the response's status and body. Exits 0 on a 2xx, 1 otherwise.

The data is the catalog's example of the type (see \`catalog list\`), or the JSON
of --data, with each --set applied; it is validated against the type's schema
before anything is sent. Loopback and private addresses are allowed: this is a
developer tool for your own machine (a running app's deliveries keep its SSRF guard).

Options:
  --to <url>              where to POST
  ${secretHelp}
  --data <file.json>      the event's data instead of the example
  --set <path=value>      override one field: amount.amount=500, currency=EUR,
                          metadata='{"a":"b"}' (JSON when it parses, else a string); repeatable
  --metadata <key=value>  an entry of the event's metadata (region=eu), sent in the
                          envelope; the value is taken as a string; repeatable
  --ordering-key <key>    send it as an ordered event: the key in the envelope and
                          webhook-sequence: 1 (to try a receiver's ordering)
  --timeout-ms <ms>       how long to wait for the answer (default 15000)
  ${catalogHelp(24)}
  --json                  print { id, type, url, ok, statusCode, durationMs, error, body }
  -h, --help              show this help`,

  async run(args, io) {
    const [type] = args.positionals as [string];
    const catalog = await catalogOf(args, io, this);
    if (!catalog.has(type)) {
      throw new UsageError(`Unknown event type ${JSON.stringify(type)}: expected one of ${catalog.types.join(', ')}`, this.name);
    }
    const url = requiredFlag(args, this, 'to', '<url>');
    const [secret] = secretsOf(args, io, this) as [string];
    const data = await eventData(args, io, this, catalog, type);
    const metadata = metadataOf(stringFlags(args, 'metadata'), this.name);
    const orderingKey = stringFlag(args, 'ordering-key');
    const timeoutMs = timeoutFlag(stringFlag(args, 'timeout-ms'), this.name);
    const webhooks = createWebhooks<EventCatalog>({
      events: catalog,
      security: { allowPrivateNetworks: true },
      retry: { delaysMs: [] },
      http: { timeoutMs, responseSnippetBytes: RESPONSE_BODY_BYTES },
    });
    try {
      await webhooks.subscriptions.create({ url, eventTypes: [type], secret });
      // publish checks the keys and values, as for any event (INPUT_INVALID on options.metadata.<key>).
      const event = await webhooks.publish(type, data as never, { metadata, ...(orderingKey === undefined ? {} : { orderingKey }) });
      webhooks.start();
      await webhooks.drain({ timeoutMs: timeoutMs + 5_000 });
      const [delivery] = (await webhooks.deliveries.list({ eventId: event.id })).items;
      const attempt = (await webhooks.deliveries.attempts(delivery!.id)).at(-1)!;
      return report(io, args, { id: event.id, type, url }, attempt);
    } finally {
      await webhooks.stop();
    }
  },
};

async function eventData(args: CommandArgs, io: CliIo, command: Command, catalog: EventCatalog, type: string): Promise<unknown> {
  const file = stringFlag(args, 'data');
  let data: unknown;
  if (file !== undefined) {
    const text = (await readInputFile(io, file, 'the --data file', command.name)).toString('utf8');
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`Expected --data to name a JSON file, got ${file}, which does not parse (${(error as Error).message})`, command.name);
    }
  } else if (Object.hasOwn(catalog.examples, type)) {
    data = (catalog.examples as Record<string, unknown>)[type];
  } else {
    throw new UsageError(`Expected --data <file.json> for ${type}, which has no example in the catalog (defineEvents({ [type]: { schema, example } }))`, command.name);
  }
  return stringFlags(args, 'set').reduce((current, text) => applySetOverride(current, parseSetOverride(text, command.name)), data);
}

/**
 * The metadata of the `--metadata key=value` flags, keys in the order given; the value is
 * the text after the first `=`, as it is (metadata values are strings).
 * @throws UsageError for a flag without `=` or without a key, or a key given twice.
 */
function metadataOf(flags: readonly string[], command: string): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const text of flags) {
    const equals = text.indexOf('=');
    if (equals <= 0) throw new UsageError(`Expected --metadata key=value (e.g. region=eu), got ${JSON.stringify(text)}`, command);
    const key = text.slice(0, equals);
    if (Object.hasOwn(metadata, key)) throw new UsageError(`Expected each --metadata key once, got ${JSON.stringify(key)} twice`, command);
    // defineProperty: a `__proto__` key stays a key, for publish to refuse by name.
    Object.defineProperty(metadata, key, { value: text.slice(equals + 1), enumerable: true, configurable: true, writable: true });
  }
  return metadata;
}

function timeoutFlag(value: string | undefined, command: string): number {
  if (value === undefined) return 15_000;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms < 1 || ms > 3_600_000) throw new UsageError(`Expected --timeout-ms to be whole milliseconds from 1 to 3600000, got ${JSON.stringify(value)}`, command);
  return ms;
}

function report(io: CliIo, args: CommandArgs, sent: { id: string; type: string; url: string }, attempt: AttemptRecord): number {
  const ok = attempt.outcome === 'delivered';
  const error = ok ? null : (attempt.errorMessage ?? (attempt.statusCode === null ? attempt.errorClass : `HTTP ${attempt.statusCode}`));
  if (booleanFlag(args, 'json')) {
    io.out(JSON.stringify({ ...sent, ok, statusCode: attempt.statusCode, durationMs: attempt.durationMs, error, body: attempt.responseSnippet }, null, 2));
    return ok ? 0 : 1;
  }
  const { green, red, bold, dim } = io.style;
  io.out(`${dim('→')} POST ${sent.url}  ${bold(sent.type)}  ${sent.id}`);
  const status = attempt.statusCode === null ? red(`no response: ${error}`) : (ok ? green : red)(bold(String(attempt.statusCode)));
  io.out(`${dim('←')} ${status}  ${dim(`${Math.round(attempt.durationMs)} ms`)}`);
  if (attempt.responseSnippet !== null) io.out(attempt.responseSnippet);
  return ok ? 0 : 1;
}
