/**
 * `catalog export` and `catalog list` as child processes: what the CLI writes validates
 * under the validators of each format (Ajv 2020-12 with each example, the OpenAPI 3.1
 * validator, the official AsyncAPI 3.0.0 schema), files land where --out says, and the
 * field list comes from the same schemas.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import specs from '@asyncapi/specs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, it } from 'vitest';
import { bookkeeperEvents } from '../../src/index.js';
import { runCli } from './cli-process.js';

// ajv-formats is CommonJS with a default export: under ESM interop the function may sit one level down.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: object) => void;

type Json = Record<string, unknown>;

describe.concurrent('catalog export', () => {
  it('json-schema to stdout: one schema per type, each compiled by Ajv 2020-12 and its example valid', async ({ expect }) => {
    const run = await runCli(['catalog', 'export', '--format', 'json-schema']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const schemas = JSON.parse(run.stdout) as Record<string, Json>;
    expect(Object.keys(schemas)).toEqual([...bookkeeperEvents.types]);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    for (const [type, schema] of Object.entries(schemas)) {
      const validate = ajv.compile(schema);
      const [example] = schema.examples as Json[];
      expect(validate(example), `${type}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(validate({ ...example, data: { ...(example!.data as Json), surprise: 1 } })).toBe(false);
    }
  });

  it('json-schema with --out: a <type>.schema.json file per type, their paths printed', async ({ expect }) => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-catalog-')), 'schemas');
    const run = await runCli(['catalog', 'export', '--format', 'json-schema', '--out', dir]);
    expect(run.code).toBe(0);
    const names = bookkeeperEvents.types.map((type) => `${type}.schema.json`);
    expect(readdirSync(dir).sort()).toEqual([...names].sort());
    expect(run.stdout.trim().split('\n')).toEqual(names.map((name) => join(dir, name)));
    const schema = JSON.parse(readFileSync(join(dir, 'payment.succeeded.schema.json'), 'utf8')) as Json;
    expect(schema).toMatchObject({ $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'payment.succeeded' });
  });

  it('json-schema with --out two levels deep: both folders are made', async ({ expect }) => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-catalog-')), 'a', 'b');
    const run = await runCli(['catalog', 'export', '--format', 'openapi', '--out', dir]);
    expect(run.code).toBe(0);
    expect(readdirSync(dir)).toEqual(['openapi.json']);
  });

  // Node's recursive mkdir loops for ever at 100 % CPU under /proc, which refuses new entries with ENOENT.
  it.runIf(process.platform === 'linux')('--out in a folder that refuses new entries fails with its error, exit 1, instead of hanging', async ({ expect }) => {
    const run = await runCli(['catalog', 'export', '--format', 'openapi', '--out', '/proc/bookkeeper-webhooks-test/schemas']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("ENOENT: no such file or directory, mkdir '/proc/bookkeeper-webhooks-test'");
  });

  it('openapi: a document the OpenAPI 3.1 validator accepts, written to openapi.json with --out', async ({ expect }) => {
    const dir = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-catalog-'));
    const [stdout, file] = await Promise.all([runCli(['catalog', 'export', '--format', 'openapi']), runCli(['catalog', 'export', '--format', 'openapi', '--out', dir])]);
    expect([stdout.code, file.code]).toEqual([0, 0]);
    const document = JSON.parse(stdout.stdout) as Json;
    expect(JSON.parse(readFileSync(join(dir, 'openapi.json'), 'utf8'))).toEqual(document);
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(Object.keys(document.webhooks as Json)).toEqual([...bookkeeperEvents.types]);
  });

  it('asyncapi: a document valid against the official AsyncAPI 3.0.0 schema', async ({ expect }) => {
    const run = await runCli(['catalog', 'export', '--format', 'asyncapi']);
    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as Json;
    // The AsyncAPI schema carries its own copy of the draft-07 meta-schema: Ajv's must not be loaded beside it.
    const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
    addFormats(ajv);
    const validate = ajv.compile(specs.schemas['3.0.0']);
    expect(validate(document), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    expect(document.asyncapi).toBe('3.0.0');
  });

  it('a missing or unknown --format is a usage error, exit 2', async ({ expect }) => {
    const [missing, unknown, noSub] = await Promise.all([
      runCli(['catalog', 'export']),
      runCli(['catalog', 'export', '--format', 'yaml']),
      runCli(['catalog', 'frob']),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Expected --format json-schema|openapi|asyncapi for `catalog export`, got none');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Expected --format to be one of json-schema, openapi, asyncapi, got "yaml"');
    expect(noSub.code).toBe(2);
    expect(noSub.stderr).toContain('Unknown subcommand "frob" of `catalog`: expected one of export, list');
  });
});

describe.concurrent('catalog list', () => {
  it('lists every type with its fields, nested objects as dotted paths and required ones starred', async ({ expect }) => {
    const run = await runCli(['catalog', 'list']);
    expect(run.code).toBe(0);
    for (const type of bookkeeperEvents.types) expect(run.stdout).toMatch(new RegExp(`^${type.replaceAll('.', '\\.')}$`, 'm'));
    const payment = run.stdout.split('\n\n')[0]!;
    expect(payment).toMatch(/^ {2}amount\.currency +string \*$/m);
    expect(payment).toMatch(/^ {2}amount\.exponent +integer$/m);
    expect(payment).toMatch(/^ {2}invoiceId +string\|null$/m);
    expect(payment).toMatch(/^ {2}occurredAt +date-time \*$/m);
    expect(payment).toMatch(/^ {2}method +card\|bank_transfer\|direct_debit\|wallet\|cash\|other \*$/m);
    // Piped: no colour codes.
    expect(run.stdout).not.toContain('\u001b[');
  });

  it('--json for one type: its fields with path, type and required', async ({ expect }) => {
    const run = await runCli(['catalog', 'list', 'payment.succeeded', '--json']);
    expect(run.code).toBe(0);
    const [listed] = JSON.parse(run.stdout) as Array<{ type: string; fields: Array<{ path: string; type: string; required: boolean }> }>;
    expect(listed!.type).toBe('payment.succeeded');
    expect(listed!.fields).toContainEqual({ path: 'amount.amount', type: 'integer', required: true });
    expect(listed!.fields).toContainEqual({ path: 'reference', type: 'string', required: false });
    // Every top-level field of the example is listed.
    for (const key of Object.keys(bookkeeperEvents.examples['payment.succeeded'])) expect(listed!.fields.map((field) => field.path)).toContain(key);
  });

  it('an unknown type is a usage error naming the known ones, exit 2', async ({ expect }) => {
    const run = await runCli(['catalog', 'list', 'payment.wat']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Unknown event type "payment.wat": expected one of payment.succeeded, payment.failed');
  });
});
