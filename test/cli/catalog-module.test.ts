/**
 * `--catalog <module>` as child processes: a host's own `defineEvents` catalog, written as an
 * .mjs module into a temporary project (its `node_modules` the repository's, the library
 * imported from its bundled source), is what `catalog list`, `catalog export`, `trigger`,
 * `send-test` and the store commands work with; a missing file, another kind of file, a
 * module that throws or exports no catalog is a usage error (exit 2) naming the path.
 */
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { z } from 'zod';
import { createWebhooks, defineEvents, type Webhooks } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { createSqliteStorage } from '../../src/storage/sqlite/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { spawn } from 'node:child_process';
import { bundledLibrary, cleanEnv, cliSource, collect, repoRoot, runCli } from './cli-process.js';

// ajv-formats is CommonJS with a default export: under ESM interop the function may sit one level down.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: object) => void;

/** The ledger catalog of the modules below, as its source text (the module's copy of zod and of the library). */
const ledgerDefinitions = `{
  'ledger.entry_posted': {
    schema: z.strictObject({
      entryId: z.string().min(4),
      amount: z.strictObject({ amount: z.int(), currency: z.string().length(3) }),
      memo: z.string().optional(),
    }),
    example: { entryId: 'je_8Rk2', amount: { amount: 125000, currency: 'EUR' } },
  },
  'ledger.period_closed': z.strictObject({ period: z.string() }),
}`;
/** The same catalog in this process, for the app that owns the store: built from the same text, with this process's zod. */
const ledgerEvents = defineEvents((new Function('z', `return ${ledgerDefinitions}`) as (zod: typeof z) => Parameters<typeof defineEvents>[0])(z));
const example = ledgerEvents.examples['ledger.entry_posted'] as Record<string, unknown>;

let project: string;
/** Module paths by what they hold. */
const modules = {
  defaultExport: '',
  namedExport: '',
  noCatalog: '',
  commonJs: '',
  commonJsCatalog: '',
  throws: '',
  typeScript: '',
  json: '',
};
let receiver: LoopbackReceiver;

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-catalog-module-'));
  symlinkSync(join(repoRoot, 'node_modules'), join(project, 'node_modules'), 'dir');
  const library = pathToFileURL(await bundledLibrary()).href;
  const write = (name: string, text: string): string => {
    const path = join(project, name);
    writeFileSync(path, text);
    return path;
  };
  const imports = `import { z } from 'zod';\nimport { defineEvents } from ${JSON.stringify(library)};\n`;
  modules.defaultExport = write('ledger-events.mjs', `${imports}export default defineEvents(${ledgerDefinitions});\n`);
  modules.namedExport = write('named.mjs', `${imports}export const version = 3;\nexport const catalog = defineEvents(${ledgerDefinitions});\n`);
  modules.noCatalog = write('no-catalog.mjs', `export const events = { types: ['ledger.entry_posted'] };\nexport default { schemas: {} };\n`);
  modules.commonJs = write('settings.cjs', `module.exports = { catalog: 'ledger' };\n`);
  const commonJsLibrary = await bundledLibrary('cjs');
  modules.commonJsCatalog = write(
    'ledger-events.cjs',
    `const { z } = require('zod');\nconst { defineEvents } = require(${JSON.stringify(commonJsLibrary)});\nmodule.exports = { catalog: defineEvents(${ledgerDefinitions}) };\n`,
  );
  modules.throws = write('throws.mjs', `throw new Error('LEDGER_DATABASE_URL is not set');\n`);
  modules.typeScript = write('ledger-events.ts', `${imports}export default defineEvents(${ledgerDefinitions});\n`);
  modules.json = write('ledger-events.json', '{}\n');
  receiver = await LoopbackReceiver.start();
});

afterAll(async () => {
  await receiver.close();
});

describe.concurrent('--catalog with catalog list and catalog export', () => {
  it("catalog list: the module's types with their fields, from its default export, its `catalog` export, or a CommonJS module's `module.exports.catalog`", async ({ expect }) => {
    const [table, json, named, commonJs, one] = await Promise.all([
      runCli(['catalog', 'list', '--catalog', modules.defaultExport]),
      runCli(['catalog', 'list', '--catalog', modules.defaultExport, '--json']),
      runCli(['catalog', 'list', '--catalog', modules.namedExport, '--json']),
      runCli(['catalog', 'list', '--catalog', modules.commonJsCatalog, '--json']),
      runCli(['catalog', 'list', 'ledger.period_closed', '--catalog', modules.defaultExport, '--json']),
    ]);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const listed = JSON.parse(json.stdout) as unknown;
    expect(listed).toEqual([
      {
        type: 'ledger.entry_posted',
        fields: [
          { path: 'entryId', type: 'string', required: true },
          { path: 'amount', type: 'object', required: true },
          { path: 'amount.amount', type: 'integer', required: true },
          { path: 'amount.currency', type: 'string', required: true },
          { path: 'memo', type: 'string', required: false },
        ],
      },
      { type: 'ledger.period_closed', fields: [{ path: 'period', type: 'string', required: true }] },
    ]);
    expect(JSON.parse(named.stdout)).toEqual(listed);
    expect(JSON.parse(commonJs.stdout)).toEqual(listed);
    expect(JSON.parse(one.stdout)).toEqual([(listed as unknown[])[1]]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ledger\.entry_posted\n {2}entryId +string \*\n/);
    expect(table.stdout).not.toContain('payment.succeeded');
  });

  it('catalog list: a .ts module, when the CLI runs under tsx', async ({ expect }) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cliSource, 'catalog', 'list', '--catalog', modules.typeScript, '--json'], { cwd: repoRoot, env: cleanEnv() });
    const run = await collect(child);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect((JSON.parse(run.stdout) as Array<{ type: string }>).map((listed) => listed.type)).toEqual(['ledger.entry_posted', 'ledger.period_closed']);
  });

  it('catalog list: a type outside the module\'s catalog is a usage error listing its types', async ({ expect }) => {
    const run = await runCli(['catalog', 'list', 'payment.succeeded', '--catalog', modules.defaultExport]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Unknown event type "payment.succeeded": expected one of ledger.entry_posted, ledger.period_closed');
  });

  it("catalog export json-schema: one schema per type of the module, the example valid against its schema", async ({ expect }) => {
    const run = await runCli(['catalog', 'export', '--format', 'json-schema', '--catalog', modules.defaultExport]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const schemas = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    expect(Object.keys(schemas)).toEqual(['ledger.entry_posted', 'ledger.period_closed']);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(schemas['ledger.entry_posted']!);
    const [envelope] = schemas['ledger.entry_posted']!.examples as Array<Record<string, unknown>>;
    expect(envelope!.data).toEqual(example);
    expect(validate(envelope), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...envelope, data: { ...example, entryId: 'je' } })).toBe(false);
  });

  it('catalog export openapi: the module\'s types are the webhooks of the document', async ({ expect }) => {
    const run = await runCli(['catalog', 'export', '--format', 'openapi', '--catalog', modules.namedExport]);
    expect(run.code).toBe(0);
    expect(Object.keys((JSON.parse(run.stdout) as { webhooks: object }).webhooks)).toEqual(['ledger.entry_posted', 'ledger.period_closed']);
  });
});

describe('--catalog with trigger', () => {
  it("sends the module's example of a custom type, with --set, signed as a delivery: the receiver verifies it", async ({ expect }) => {
    const secret = generateSecret();
    const before = receiver.requests.length;
    const run = await runCli(['trigger', 'ledger.entry_posted', '--to', receiver.url, '--secret', secret, '--catalog', modules.defaultExport, '--set', 'memo=month end', '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const sent = JSON.parse(run.stdout) as { id: string; type: string; ok: boolean; statusCode: number };
    expect(sent).toMatchObject({ type: 'ledger.entry_posted', ok: true, statusCode: 204 });
    const request = receiver.requests[before]!;
    expect(verifyWebhook({ body: request.body, headers: request.headers }, { secrets: secret })).toEqual({
      id: sent.id,
      type: 'ledger.entry_posted',
      timestamp: expect.any(String),
      data: { ...example, memo: 'month end' },
    });
  });

  it("refuses a type outside the module's catalog, a type without an example and no --data, and data its schema refuses", async ({ expect }) => {
    const secret = generateSecret();
    const before = receiver.requests.length;
    const [bookkeeperType, noExample, invalid] = await Promise.all([
      runCli(['trigger', 'payment.succeeded', '--to', receiver.url, '--secret', secret, '--catalog', modules.defaultExport]),
      runCli(['trigger', 'ledger.period_closed', '--to', receiver.url, '--secret', secret, '--catalog', modules.defaultExport]),
      runCli(['trigger', 'ledger.entry_posted', '--to', receiver.url, '--secret', secret, '--catalog', modules.defaultExport, '--set', 'amount.currency=EURO']),
    ]);
    expect(bookkeeperType.code).toBe(2);
    expect(bookkeeperType.stderr).toContain('Unknown event type "payment.succeeded": expected one of ledger.entry_posted, ledger.period_closed');
    expect(noExample.code).toBe(2);
    expect(noExample.stderr).toContain('Expected --data <file.json> for ledger.period_closed, which has no example in the catalog');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('EVENT_DATA_INVALID');
    expect(receiver.requests).toHaveLength(before);
  });
});

describe('--catalog that cannot be used', () => {
  it('is a usage error (exit 2) naming the path and what was expected, before anything is sent or opened', async ({ expect }) => {
    const missing = join(project, 'missing.mjs');
    const secret = generateSecret();
    const cases: Array<[args: string[], message: string]> = [
      [['catalog', 'list', '--catalog', missing], `Expected --catalog to name a .js, .mjs or .cjs module (a .ts one under tsx or Node ≥ 22.18), got ${missing} (no such file)`],
      [['catalog', 'list', '--catalog', project], `Expected --catalog to name a .js, .mjs or .cjs module (a .ts one under tsx or Node ≥ 22.18), got ${project} (no such file)`],
      [['catalog', 'export', '--format', 'openapi', '--catalog', modules.json], `Expected --catalog to name a .js, .mjs or .cjs module (a .ts one under tsx or Node ≥ 22.18), got ${modules.json}`],
      [
        ['catalog', 'list', '--catalog', modules.noCatalog],
        `Expected --catalog ${modules.noCatalog} to export an event catalog made by defineEvents() as its default export or as \`catalog\`, got exports \`default\`, \`events\`, the default being an object { schemas }`,
      ],
      [
        ['trigger', 'ledger.entry_posted', '--to', receiver.url, '--secret', secret, '--catalog', modules.commonJs],
        `Expected --catalog ${modules.commonJs} to export an event catalog made by defineEvents() as its default export or as \`catalog\`, got exports \`default\`, the default being an object { catalog }`,
      ],
      [['catalog', 'export', '--format', 'json-schema', '--catalog', modules.throws], `Expected --catalog ${modules.throws} to load as a module, got an error: LEDGER_DATABASE_URL is not set`],
      [['deliveries', 'list', '--storage', 'sqlite:./no-such.db', '--catalog', missing], `Expected --catalog to name a .js, .mjs or .cjs module (a .ts one under tsx or Node ≥ 22.18), got ${missing} (no such file)`],
    ];
    const before = receiver.requests.length;
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    for (const [index, run] of runs.entries()) {
      const [args, message] = cases[index]!;
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toContain(message);
      expect(run.stderr).toContain('--help` for usage.');
      expect(run.stdout).toBe('');
    }
    expect(receiver.requests).toHaveLength(before);
  });

  // Node 22.18 and later strip types themselves (process.features.typescript); Node 20 does not.
  const nodeStripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);

  it(`a .ts module on plain node (${process.version}): ${nodeStripsTypes ? 'loads, Node strips its types' : 'a usage error that says how to load it'}`, async ({ expect }) => {
    const run = await runCli(['catalog', 'list', '--catalog', modules.typeScript, '--json']);
    if (nodeStripsTypes) {
      expect(run.code, run.stderr).toBe(0);
      expect((JSON.parse(run.stdout) as Array<{ type: string }>).map((entry) => entry.type)).toEqual(['ledger.entry_posted', 'ledger.period_closed']);
    } else {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`Expected --catalog ${modules.typeScript} to load as a module, got an error: `);
      expect(run.stderr).toContain('(a .ts module loads when the CLI runs under tsx, npx tsx <cli> …, or on Node 22.18 and later)');
      expect(run.stdout).toBe('');
    }
  });
});

describe('--catalog with the store commands', () => {
  let app: Webhooks<typeof ledgerEvents>;
  let store: string[];
  let subscription: { id: string; secret: string };

  beforeAll(async () => {
    const file = join(project, 'webhooks.db');
    app = createWebhooks({ events: ledgerEvents, storage: createSqliteStorage({ filename: file }), security: { allowPrivateNetworks: true }, meter: false });
    await app.start();
    subscription = await app.subscriptions.create({ url: receiver.url, eventTypes: ['ledger.*'] });
    store = ['--storage', `sqlite:${file}`];
  });

  afterAll(async () => {
    await app.close();
  });

  it("send-test --type sends the module's example of an app's custom type, which Bookkeeper's catalog does not have", async ({ expect }) => {
    const before = receiver.requests.length;
    const [withCatalog, without] = await Promise.all([
      runCli(['send-test', subscription.id, ...store, '--catalog', modules.defaultExport, '--type', 'ledger.entry_posted', '--allow-private-networks', '--json']),
      runCli(['send-test', subscription.id, ...store, '--type', 'ledger.entry_posted', '--allow-private-networks', '--json']),
    ]);
    expect(withCatalog).toMatchObject({ code: 0, stderr: '' });
    const result = JSON.parse(withCatalog.stdout) as { webhookId: string };
    expect(result).toMatchObject({ ok: true, statusCode: 204, recorded: true });
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('EVENT_TYPE_UNKNOWN');
    expect(receiver.requests).toHaveLength(before + 1);
    const request = receiver.requests.find((received) => received.headers['webhook-id'] === result.webhookId)!;
    expect(verifyWebhook({ body: request.body, headers: request.headers }, { secrets: subscription.secret })).toMatchObject({ type: 'ledger.entry_posted', data: example });
    expect((await app.subscriptions.testAttempts(subscription.id)).items).toMatchObject([{ id: result.webhookId, type: 'ledger.entry_posted' }]);
  });

  it("deliveries replay matches the subscription's filters against the module's types (Bookkeeper's have no ledger.*)", async ({ expect }) => {
    const event = await app.publish('ledger.entry_posted', example);
    await app.drain({ timeoutMs: 10_000 });
    // Created after the publish: the event is one it missed, for a replay to send.
    const late = await app.subscriptions.create({ url: receiver.url, eventTypes: ['ledger.*'] });
    const window = ['--subscription', late.id, '--since', '1h', ...store, '--yes', '--json'];
    const withoutCatalog = await runCli(['deliveries', 'replay', ...window]);
    expect(withoutCatalog).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(withoutCatalog.stdout)).toEqual({ count: 0, dryRun: true });

    const replayed = await runCli(['deliveries', 'replay', ...window, '--catalog', modules.defaultExport]);
    expect(replayed).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(replayed.stdout)).toEqual({ count: 1, dryRun: false });
    await app.drain({ timeoutMs: 10_000 });
    const listed = await runCli(['deliveries', 'list', '--subscription', late.id, ...store, '--catalog', modules.defaultExport, '--json']);
    expect(JSON.parse(listed.stdout)).toMatchObject({ items: [{ eventId: event.id, eventType: 'ledger.entry_posted', status: 'delivered' }] });
  });
});
