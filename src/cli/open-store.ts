/**
 * The store a delivery-log command works on: `--storage sqlite:<file>` or
 * `--storage postgres://…`, opened through the library's own adapters and `createWebhooks`
 * with the app's event catalog (`--catalog`, Bookkeeper's by default), never migrated (the
 * app owns its schema) and never started (the app's dispatcher sends; these commands read
 * and mark). Subscription secrets sealed with `security.secretsKey` open with the key in
 * `BOOKKEEPER_WEBHOOKS_SECRETS_KEY`, payloads sealed with `security.payloadKey` with the
 * key (or keys) in `BOOKKEEPER_WEBHOOKS_PAYLOAD_KEY`.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createWebhooks, type Webhooks } from '../create-webhooks.js';
import type { EventCatalog } from '../events/catalog.js';
import type { StorageAdapter } from '../storage/storage-adapter.js';
import { requiredFlag, stringFlag, type Command, type CommandArgs, type CommandOptions } from './command.js';
import { catalogHelp, catalogOf, catalogOption } from './catalog-flag.js';
import type { CliIo } from './cli-io.js';
import { UsageError } from './usage-error.js';

/** The environment variable holding `security.secretsKey` (the string form), for commands that sign. */
export const SECRETS_KEY_ENV = 'BOOKKEEPER_WEBHOOKS_SECRETS_KEY';

/**
 * The environment variable holding `security.payloadKey`: the base64 key, or the app's key
 * list as JSON (`[{"id":"k2","key":"…"},{"id":"k1","key":"…"}]`), for the commands that read
 * payloads sealed at rest (`deliveries replay` of a subscription with a payload filter
 * judges the events by them).
 */
export const PAYLOAD_KEY_ENV = 'BOOKKEEPER_WEBHOOKS_PAYLOAD_KEY';

/**
 * `security.payloadKey` as the environment gives it: absent, the base64 string form, or a
 * JSON list (checked by `createWebhooks` as the app's own is).
 */
function payloadKeyOf(value: string | undefined, command: string): string | Array<{ id: string; key: string }> | undefined {
  if (value === undefined || value === '') return undefined;
  if (!value.trimStart().startsWith('[')) return value;
  try {
    return JSON.parse(value) as Array<{ id: string; key: string }>;
  } catch {
    // The value is a key: the message must not repeat it.
    throw new UsageError(`Expected ${PAYLOAD_KEY_ENV} to be a base64 key or a JSON list [{ "id": …, "key": … }], got a value starting with "[" that is not JSON`, command);
  }
}

/** `--storage` (with `--schema` and the app's `--catalog`), shared by the store commands. */
export const storageOption = { storage: { type: 'string' }, schema: { type: 'string' }, ...catalogOption } as const satisfies CommandOptions;

/** The help lines of `--storage`, `--schema` and `--catalog`. */
export const storageHelp = `--storage <store>       sqlite:<file> or postgres://user:pass@host:5432/db (the app's store)
  --schema <name>         PostgreSQL: the schema of the webhook tables (default webhooks)
  ${catalogHelp(24)}`;

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Let `sendTest` post to loopback and private addresses (`security.allowPrivateNetworks`). */
  allowPrivateNetworks?: boolean;
}

/** Runs `work` on a webhooks instance over the `--storage` store, and closes it. */
export async function withStore<T>(args: CommandArgs, io: CliIo, command: Command, work: (webhooks: Webhooks<EventCatalog>) => Promise<T>, options: OpenStoreOptions = {}): Promise<T> {
  const spec = requiredFlag(args, command, 'storage', 'sqlite:<file> | postgres://…');
  const events = await catalogOf(args, io, command);
  const payloadKey = payloadKeyOf(io.env[PAYLOAD_KEY_ENV], command.name);
  const storage = await openStorage(spec, stringFlag(args, 'schema'), io, command.name);
  const secretsKey = io.env[SECRETS_KEY_ENV];
  let webhooks: Webhooks<EventCatalog>;
  try {
    webhooks = createWebhooks<EventCatalog>({
      events,
      storage,
      security: {
        allowPrivateNetworks: options.allowPrivateNetworks === true,
        ...(secretsKey === undefined || secretsKey === '' ? {} : { secretsKey }),
        ...(payloadKey === undefined ? {} : { payloadKey }),
      },
    });
  } catch (error) {
    // createWebhooks refused the keys: the store opened above is closed, not left to hold the process.
    await storage.close();
    throw error;
  }
  try {
    return await work(webhooks);
  } finally {
    await webhooks.close();
  }
}

async function openStorage(spec: string, schema: string | undefined, io: CliIo, command: string): Promise<StorageAdapter> {
  if (spec.startsWith('sqlite:')) {
    if (schema !== undefined) throw new UsageError(`Expected --schema only with a postgres:// store, got it with ${spec}`, command);
    if (spec === 'sqlite:') throw new UsageError('Expected --storage sqlite:<file> to name the database file, got none after sqlite:', command);
    const filename = resolve(io.cwd, spec.slice('sqlite:'.length));
    // The SQLite driver would create a missing file: an empty store that answers "nothing" to every query.
    if (!existsSync(filename)) throw new UsageError(`Expected --storage sqlite:<file> to name an existing database, got ${spec} (no such file)`, command);
    const { createSqliteStorage } = await import('../storage/sqlite/index.js');
    return createSqliteStorage({ filename });
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { createPostgresStorage } = await import('../storage/postgres/index.js');
    // Unnamed statements: a command runs each of its few statements once, so preparing them
    // buys nothing, and the store's URL may be a PgBouncer in transaction mode, which cannot
    // carry named ones (README, "Running behind PgBouncer"): the second command through it
    // met the first one's statement on the same server connection (SQLSTATE 42P05).
    return createPostgresStorage({ connectionString: spec, preparedStatements: false, ...(schema === undefined ? {} : { schema }) });
  }
  throw new UsageError(`Expected --storage sqlite:<file> or postgres://…, got ${JSON.stringify(redactUrl(spec))}`, command);
}

/** A storage spec as it may be shown: a URL's password never is. */
export function redactUrl(spec: string): string {
  return spec.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}
