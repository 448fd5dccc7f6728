/**
 * `exportCatalog` checked by real validators of each format: every JSON Schema compiles
 * under Ajv's 2020-12 dialect and its example validates; the OpenAPI 3.1 document passes
 * @seriousme/openapi-schema-validator; the AsyncAPI 3.0 document passes the official
 * AsyncAPI 3.0.0 JSON Schema (@asyncapi/specs) under Ajv, and every message example
 * validates against its payload schema. The validators also refuse what the data must
 * refuse (a float amount, a wrong type), so the schemas are not merely well-formed.
 */
import specs from '@asyncapi/specs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bookkeeperEvents, defineEvents, exportCatalog } from '../../src/index.js';
import { thrownBy } from '../support/rejections.js';

// ajv-formats is CommonJS with a default export: under ESM interop the function may sit one level down.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: object) => void;

type Json = Record<string, unknown>;

function ajv2020(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv;
}

/** The document with every local `$ref` (`#/…`) replaced by what it points at, so a part of it validates on its own. */
function inlineRefs(root: Json, value: unknown = root): unknown {
  if (Array.isArray(value)) return value.map((item) => inlineRefs(root, item));
  if (typeof value !== 'object' || value === null) return value;
  const ref = (value as Json).$ref;
  if (typeof ref === 'string' && ref.startsWith('#/')) {
    const target = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, key) => (node as Json)[key], root);
    return inlineRefs(root, target);
  }
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, inlineRefs(root, item)]));
}

describe('exportCatalog', () => {
  it('json-schema: one 2020-12 schema per type that Ajv compiles, each example valid, a float amount or another type refused', () => {
    const schemas = exportCatalog(bookkeeperEvents, { format: 'json-schema' });
    expect(Object.keys(schemas)).toEqual([...bookkeeperEvents.types]);
    const ajv = ajv2020();
    for (const type of bookkeeperEvents.types) {
      const schema = schemas[type]!;
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      const validate = ajv.compile(schema);
      const [example] = schema.examples as Json[];
      expect(example).toMatchObject({ type, data: bookkeeperEvents.examples[type] });
      expect(validate(example), `${type}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(validate({ ...example, type: 'other.type' })).toBe(false);
      expect(validate({ ...example, surprise: true })).toBe(false);
    }
    const payment = ajv.compile(schemas['payment.succeeded']!);
    const [example] = schemas['payment.succeeded']!.examples as Json[];
    const data = example!.data as Json;
    expect(payment({ ...example, data: { ...data, amount: { amount: 12.3, currency: 'EUR' } } })).toBe(false);
    expect(payment({ ...example, data: { ...data, amount: { amount: 1230, currency: 'eur' } } })).toBe(false);
    expect(payment({ ...example, environment: 'test' })).toBe(true);
    // metadata: optional, at most 20 keys without `.`, string values of at most 500 characters.
    expect(payment({ ...example, metadata: { region: 'eu', source_system: 'pos-2' } })).toBe(true);
    expect(payment({ ...example, metadata: Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`k${index}`, 'v'])) })).toBe(true);
    expect(payment({ ...example, metadata: Object.fromEntries(Array.from({ length: 21 }, (_, index) => [`k${index}`, 'v'])) })).toBe(false);
    expect(payment({ ...example, metadata: { region: 1 } })).toBe(false);
    expect(payment({ ...example, metadata: { 'a.b': 'x' } })).toBe(false);
    expect(payment({ ...example, metadata: { note: 'x'.repeat(501) } })).toBe(false);
    expect(payment({ ...example, metadata: ['eu'] })).toBe(false);
    // Money is written once and referred to.
    expect(JSON.stringify(schemas['payment.succeeded'])).toContain('"$ref":"#/$defs/Money"');
    expect(schemas['payment.succeeded']!.$defs).toHaveProperty('Money');
  });

  it('openapi: an OpenAPI 3.1 document that the validator accepts, with a webhook per type, the three signature headers, the optional sequence header and the example', async () => {
    const document = exportCatalog(bookkeeperEvents, { format: 'openapi', title: 'Acme ledger events', version: '2.1.0', description: 'What Acme sends.' });
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // The validator is awake: a header parameter without a schema or content is not OpenAPI.
    const broken = structuredClone(document) as { webhooks: Record<string, { post: { parameters: Json[] } }> };
    delete broken.webhooks['payment.succeeded']!.post.parameters[0]!.schema;
    expect((await new Validator().validate(broken)).valid).toBe(false);
    expect(document.info).toEqual({ title: 'Acme ledger events', version: '2.1.0', description: 'What Acme sends.' });
    const webhooks = document.webhooks as Record<string, { post: Json }>;
    expect(Object.keys(webhooks)).toEqual([...bookkeeperEvents.types]);
    const ajv = ajv2020();
    for (const type of bookkeeperEvents.types) {
      const { post } = webhooks[type]!;
      expect((post.parameters as Json[]).map((parameter) => [parameter.name, parameter.in, parameter.required])).toEqual([
        ['webhook-id', 'header', true],
        ['webhook-timestamp', 'header', true],
        ['webhook-signature', 'header', true],
        ['webhook-sequence', 'header', false],
      ]);
      const content = ((post.requestBody as Json).content as Json)['application/json'] as Json;
      const validate = ajv.compile(inlineRefs(document, content.schema) as Json);
      expect(validate(content.example), `${type}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(validate({ ...(content.example as Json), metadata: { region: 'eu' } })).toBe(true);
      expect(validate({ ...(content.example as Json), metadata: { region: ['eu'] } })).toBe(false);
    }
  });

  it('asyncapi: an AsyncAPI 3.0 document valid against the official schema, each message example valid against its payload', () => {
    const document = exportCatalog(bookkeeperEvents, { format: 'asyncapi' });
    // The AsyncAPI schema carries its own copy of the draft-07 meta-schema: Ajv's must not be loaded beside it.
    const specAjv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
    addFormats(specAjv);
    const validateDocument = specAjv.compile(specs.schemas['3.0.0']);
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    expect(validateDocument(document), JSON.stringify(validateDocument.errors?.slice(0, 3))).toBe(true);
    // So is this one: AsyncAPI 2's `publish` is no action of AsyncAPI 3.
    const operations = document.operations as Record<string, Json>;
    const [firstOperation] = Object.keys(operations);
    expect(validateDocument({ ...document, operations: { ...operations, [firstOperation!]: { ...operations[firstOperation!], action: 'publish' } } })).toBe(false);
    const messages = (document.components as Json).messages as Record<string, Json>;
    expect(Object.values(messages).map((message) => message.name)).toEqual([...bookkeeperEvents.types]);
    for (const message of Object.values(messages)) {
      const validate = ajv.compile(inlineRefs(document, message.payload) as Json);
      const [example] = message.examples as Array<{ payload: unknown }>;
      expect(validate(example!.payload), `${String(message.name)}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(validate({ ...(example!.payload as Json), metadata: { region: 'eu' } })).toBe(true);
      expect(validate({ ...(example!.payload as Json), metadata: { 'a.b': 'eu' } })).toBe(false);
    }
    expect(Object.values(document.operations as Record<string, Json>).every((operation) => operation.action === 'send')).toBe(true);
  });

  it('describes the host\'s transforms beside the types, in every format, each valid for its validators, the example checked', async () => {
    const thin = { schema: z.object({ paymentId: z.string() }), description: 'The id, to fetch the rest.', example: { paymentId: 'pay_1' } };
    const legacy = { schema: z.object({ payment_ref: z.string(), total: z.number() }) };
    const transforms = { thin, 'legacy-erp': legacy };

    const schemas = exportCatalog(bookkeeperEvents, { format: 'json-schema', transforms });
    expect(Object.keys(schemas)).toEqual([...bookkeeperEvents.types, 'transform:thin', 'transform:legacy-erp']);
    const validateThin = ajv2020().compile(schemas['transform:thin']!);
    const [example] = schemas['transform:thin']!.examples as Json[];
    expect(example).toMatchObject({ type: bookkeeperEvents.types[0], data: { paymentId: 'pay_1' } });
    expect(validateThin(example)).toBe(true);
    // Any catalog type carries it; not another type, not the event's own data.
    expect(validateThin({ ...example, type: 'refund.initiated' })).toBe(true);
    expect(validateThin({ ...example, type: 'other.type' })).toBe(false);
    expect(validateThin({ ...example, data: bookkeeperEvents.examples['payment.succeeded'] })).toBe(false);
    expect(schemas['transform:legacy-erp']!.examples).toBeUndefined();
    expect(String(schemas['transform:thin']!.description)).toContain('The id, to fetch the rest.');

    const openapi = exportCatalog(bookkeeperEvents, { format: 'openapi', transforms });
    const result = await new Validator().validate(structuredClone(openapi));
    expect(result.errors ?? []).toEqual([]);
    const webhook = (openapi.webhooks as Record<string, { post: Json }>)['transform:thin']!.post;
    const content = ((webhook.requestBody as Json).content as Json)['application/json'] as Json;
    expect(content.schema).toEqual({ $ref: '#/components/schemas/ThinTransformEvent' });
    expect(ajv2020().compile(inlineRefs(openapi, content.schema) as Json)(content.example)).toBe(true);
    expect((openapi.components as Json).schemas).toHaveProperty('LegacyErpTransformEvent');

    const asyncapi = exportCatalog(bookkeeperEvents, { format: 'asyncapi', transforms });
    const specAjv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
    addFormats(specAjv);
    const validateDocument = specAjv.compile(specs.schemas['3.0.0']);
    expect(validateDocument(asyncapi), JSON.stringify(validateDocument.errors?.slice(0, 3))).toBe(true);
    expect(((asyncapi.components as Json).messages as Record<string, Json>).ThinTransformEvent).toMatchObject({ name: 'transform:thin' });

    // An example that does not fit its schema, a name that is not one, a schema with no JSON form: coded refusals.
    expect(thrownBy(() => exportCatalog(bookkeeperEvents, { format: 'openapi', transforms: { thin: { ...thin, example: { paymentId: 1 } } } }))).toMatchObject({
      code: 'INPUT_INVALID',
      field: 'transforms.thin.example.paymentId',
    });
    expect(thrownBy(() => exportCatalog(bookkeeperEvents, { format: 'openapi', transforms: { 'a b': thin } }))).toMatchObject({ code: 'INPUT_INVALID' });
    expect(thrownBy(() => exportCatalog(bookkeeperEvents, { format: 'openapi', transforms: { big: { schema: z.bigint() } } }))).toMatchObject({
      code: 'CONFIG_INVALID',
      field: 'transforms.big.schema',
    });
  });

  it('exports every version of a versioned type: the newest under its name, each older one as <type>@v<n>, each with its version and example, valid in every format', async () => {
    const v1 = z.object({ paymentId: z.string(), amountMinor: z.int() });
    const v2 = z.object({ paymentId: z.string(), netMinor: z.int(), feeMinor: z.int() });
    const v3 = z.object({ id: z.string(), netMinor: z.int(), feeMinor: z.int() });
    const catalog = defineEvents({
      'payment.succeeded': {
        versions: {
          1: { schema: v1, example: { paymentId: 'pay_1', amountMinor: 1000 } },
          2: { schema: v2, example: { paymentId: 'pay_1', netMinor: 970, feeMinor: 30 }, downgrade: (data: z.output<typeof v2>) => ({ paymentId: data.paymentId, amountMinor: data.netMinor + data.feeMinor }) },
          3: { schema: v3, downgrade: (data: z.output<typeof v3>) => ({ paymentId: data.id, netMinor: data.netMinor, feeMinor: data.feeMinor }) },
        },
      },
      'refund.created': { schema: z.object({ refundId: z.string() }), example: { refundId: 'ref_1' } },
    });
    const schemas = exportCatalog(catalog, { format: 'json-schema' });
    expect(Object.keys(schemas)).toEqual(['payment.succeeded', 'payment.succeeded@v2', 'payment.succeeded@v1', 'refund.created']);
    const ajv = ajv2020();
    const versionOf = (schema: Json) => ((schema.properties as Json).version as Json | undefined)?.const;
    expect(Object.values(schemas).map((schema) => versionOf(schema))).toEqual([3, 2, 1, undefined]);
    expect((schemas['payment.succeeded']!.description as string)).toContain('version 3, the newest');
    expect((schemas['payment.succeeded@v1']!.description as string)).toContain('pinned to version 1');
    // Version 3 has no example; the others theirs, each valid against its own version only.
    expect(schemas['payment.succeeded']!.examples).toBeUndefined();
    const v1Example = { id: expect.any(String), type: 'payment.succeeded', version: 1, timestamp: expect.any(String), data: { paymentId: 'pay_1', amountMinor: 1000 } };
    expect(schemas['payment.succeeded@v1']!.examples).toEqual([v1Example]);
    const validateV1 = ajv.compile(schemas['payment.succeeded@v1']!);
    const validateV2 = ajv.compile(schemas['payment.succeeded@v2']!);
    const [example1] = schemas['payment.succeeded@v1']!.examples as Json[];
    const [example2] = schemas['payment.succeeded@v2']!.examples as Json[];
    expect(validateV1(example1)).toBe(true);
    expect(validateV2(example2)).toBe(true);
    expect(validateV2(example1)).toBe(false);
    expect(validateV1({ ...example1, version: 2 })).toBe(false);
    expect(validateV1({ ...example1, version: undefined })).toBe(false);

    const openapi = exportCatalog(catalog, { format: 'openapi' });
    const result = await new Validator().validate(structuredClone(openapi));
    expect(result.errors ?? []).toEqual([]);
    expect(Object.keys(openapi.webhooks as Json)).toEqual(['payment.succeeded', 'payment.succeeded@v2', 'payment.succeeded@v1', 'refund.created']);
    expect(Object.keys((openapi.components as Json).schemas as Json)).toEqual(expect.arrayContaining(['PaymentSucceededEvent', 'PaymentSucceededV2Event', 'PaymentSucceededV1Event']));

    const asyncapi = exportCatalog(catalog, { format: 'asyncapi' });
    const specAjv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
    addFormats(specAjv);
    const validateDocument = specAjv.compile(specs.schemas['3.0.0']);
    expect(validateDocument(asyncapi), JSON.stringify(validateDocument.errors?.slice(0, 3))).toBe(true);
    const channels = asyncapi.channels as Record<string, Json>;
    expect(channels['PaymentSucceededV1Event']!.address).toBe('payment.succeeded');
  });

  it('exports a custom catalog: a type without an example has none, the others theirs', () => {
    const catalog = defineEvents({
      'stock.low': { schema: z.strictObject({ sku: z.string(), left: z.int().min(0) }), example: { sku: 'SKU-1', left: 2 } },
      'stock.counted': z.strictObject({ sku: z.string() }),
    });
    const schemas = exportCatalog(catalog, { format: 'json-schema' });
    expect(schemas['stock.low']!.examples).toEqual([{ id: expect.any(String), type: 'stock.low', timestamp: expect.any(String), data: { sku: 'SKU-1', left: 2 } }]);
    expect(schemas['stock.counted']).not.toHaveProperty('examples');
    const openapi = exportCatalog(catalog, { format: 'openapi' });
    const content = (((openapi.webhooks as Record<string, { post: Json }>)['stock.counted']!.post.requestBody as Json).content as Json)['application/json'] as Json;
    expect(content).not.toHaveProperty('example');
    expect(content.schema).toEqual({ $ref: '#/components/schemas/StockCountedEvent' });
  });

  it('refuses a schema with no JSON Schema form, naming the type', () => {
    const catalog = defineEvents({ 'stock.moved': z.strictObject({ at: z.date() }) });
    expect(thrownBy(() => exportCatalog(catalog, { format: 'json-schema' }))).toMatchObject({ code: 'CONFIG_INVALID', field: 'stock.moved' });
  });

  it('refuses what is not a catalog and options that are not valid', () => {
    expect(thrownBy(() => exportCatalog({} as never, { format: 'openapi' }))).toMatchObject({ code: 'INPUT_INVALID', field: 'catalog' });
    expect(thrownBy(() => exportCatalog(bookkeeperEvents, { format: 'yaml' as never }))).toMatchObject({ code: 'INPUT_INVALID' });
    expect(thrownBy(() => exportCatalog(bookkeeperEvents, { format: 'openapi', title: '' }))).toMatchObject({ code: 'INPUT_INVALID' });
    expect(thrownBy(() => exportCatalog(bookkeeperEvents, { format: 'openapi', colour: 'red' } as never))).toMatchObject({ code: 'INPUT_INVALID' });
    expect(thrownBy(() => exportCatalog(bookkeeperEvents, undefined as never))).toMatchObject({ code: 'INPUT_INVALID' });
  });

  it('is the same on every run', () => {
    expect(JSON.stringify(exportCatalog(bookkeeperEvents, { format: 'openapi' }))).toBe(JSON.stringify(exportCatalog(bookkeeperEvents, { format: 'openapi' })));
  });
});
