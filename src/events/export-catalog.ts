/**
 * `exportCatalog`: an event catalog as a published contract, in the formats consumers'
 * tools read — one JSON Schema 2020-12 per event type, an OpenAPI 3.1 document whose
 * `webhooks` describe every event, or an AsyncAPI 3.0 document. Each event's schema is
 * the envelope the receiver gets (`{ id, type, timestamp, environment?, orderingKey?, metadata?, data }`), its
 * `data` from zod 4's own JSON Schema conversion of the type's schema (the output side:
 * what is stored and sent), and its example is the catalog's example in an envelope.
 *
 * A type with versions is exported once per version: under its own name its newest version
 * (what a subscription created today receives), and each older one under `<type>@v<n>` (what
 * a subscription pinned to it receives), each envelope with its `version` as a constant and
 * each version's own example.
 *
 * The schemas that carry an `id` in zod's registry (`Money`, `CurrencyCode`, …) are
 * written once and referred to: under `$defs` of each JSON Schema, under
 * `components.schemas` of the OpenAPI and AsyncAPI documents.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH, metadataKeyPattern } from '../event-metadata.js';
import { ORDERING_KEY_MAX_LENGTH } from '../ordering-key.js';
import { SEQUENCE_HEADER } from '../signing/sequence-header.js';
import { parseInput, throwValidation } from '../throw-validation.js';
import { eventTypeVersions, hasEventVersions, isEventCatalog, type EventCatalog } from './catalog.js';

/** The formats of {@link exportCatalog}. */
export type CatalogExportFormat = 'json-schema' | 'openapi' | 'asyncapi';

/** A JSON document (a schema, an OpenAPI or AsyncAPI document) as plain data. */
export type JsonDocument = { [key: string]: unknown };

/** Options of {@link exportCatalog}. */
export interface ExportCatalogOptions<TFormat extends CatalogExportFormat = CatalogExportFormat> {
  format: TFormat;
  /**
   * The document's title (OpenAPI and AsyncAPI `info.title`).
   * @defaultValue `'Bookkeeper webhooks'`
   */
  title?: string;
  /**
   * The version of your event contract (`info.version`; not the library's).
   * @defaultValue `'1.0.0'`
   */
  version?: string;
  /** `info.description`; none by default. */
  description?: string;
  /**
   * The host's payload transforms (`createWebhooks({ transforms })`) to describe: for each
   * name, the zod schema of the `data` it returns (and optionally a description and an
   * example, checked against the schema). Each is exported beside the event types under
   * `transform:<name>` — what a subscription with that transform receives: the envelope of
   * any catalog type with the transform's `data`.
   */
  transforms?: Record<string, ExportedTransform>;
}

/** A payload transform as {@link exportCatalog} describes it. */
export interface ExportedTransform {
  /** The schema of the `data` the transform returns. */
  schema: z.ZodType;
  description?: string;
  /** An example of its `data`, valid against `schema`. */
  example?: unknown;
}

/** What {@link exportCatalog} returns for a format: a schema per event type, or one document. */
export type CatalogExport<TFormat extends CatalogExportFormat> = TFormat extends 'json-schema' ? Record<string, JsonDocument> : JsonDocument;

const optionsSchema = z.strictObject({
  format: z.enum(['json-schema', 'openapi', 'asyncapi']),
  title: z.string().min(1).max(200).default('Bookkeeper webhooks'),
  version: z.string().min(1).max(100).default('1.0.0'),
  description: z.string().max(10_000).optional(),
  transforms: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a transform name of 1 to 64 letters, digits, `_`, `-` or `.`'),
      z.strictObject({
        schema: z.custom<z.ZodType>((value) => value instanceof z.ZodType, { message: 'a zod schema' }),
        description: z.string().max(10_000).optional(),
        example: z.unknown().optional(),
      }),
    )
    .optional(),
});

const catalogSchema = z.custom<EventCatalog>(isEventCatalog, { message: 'an event catalog from defineEvents (or bookkeeperEvents)' });

/** The headers a delivery carries (Standard Webhooks 1.0, and the ordered deliveries' sequence), as JSON Schemas. */
const signatureHeaders: Array<{ name: string; description: string; schema: JsonDocument; required?: false }> = [
  {
    name: 'webhook-id',
    description: 'The event id: the same on every retry and redelivery. Deduplicate on it.',
    schema: { type: 'string', minLength: 1 },
  },
  {
    name: 'webhook-timestamp',
    description: 'When this attempt was signed, in Unix seconds. Refuse one too far from your clock (±300 s).',
    schema: { type: 'string', pattern: '^[0-9]+$' },
  },
  {
    name: 'webhook-signature',
    description:
      'Space-separated signatures, one per active secret: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for a `whsec_…` secret, `v1a,<base64 Ed25519 signature of "id.timestamp.body">` for a subscription signing with Ed25519 (verify it with its `whpk_…` public key). Verify one against the raw body before parsing it.',
    schema: { type: 'string', pattern: '^v1a?,[A-Za-z0-9+/=]+( v1a?,[A-Za-z0-9+/=]+)*$' },
  },
  {
    name: SEQUENCE_HEADER,
    description:
      "On an event published with an `orderingKey`: this delivery's number among the subscription's deliveries of the key (1, 2, 3, … in publish order, the same on every retry). Not covered by the signature; a lower or equal number than the last handled is a duplicate, a higher one than the next a gap.",
    schema: { type: 'string', pattern: '^[1-9][0-9]*$' },
    required: false,
  },
];

/** The example envelope's id and timestamp: fixed, so that an export is the same on every run. */
const exampleId = 'evt_01JEBX5KQ2W3Y4Z5A6B7C8D9E0';
const exampleTimestamp = '2026-12-03T09:30:00.000Z';

/** Where a schema's shared definitions live in each kind of document. */
type DefinitionsPlace = { key: '$defs' | 'definitions'; refPrefix: string };

interface ConvertedType {
  /** The key it is exported under: the event type, `<type>@v<n>` for an older version, `transform:<name>`. */
  type: string;
  /** The event type it describes (`type` without its version), for the AsyncAPI channel's address. */
  address?: string;
  /** The envelope schema, its refs pointing at `place`, without `$schema` and `$defs`. */
  envelope: JsonDocument;
  /** The named schemas it refers to. */
  definitions: Record<string, JsonDocument>;
  /** The example envelope, when the type has an example. */
  example: JsonDocument | undefined;
}

/**
 * Exports a catalog's event types for consumers: `json-schema` gives one JSON Schema
 * 2020-12 per type (type → schema), `openapi` an OpenAPI 3.1 document with a `webhooks`
 * entry per type, `asyncapi` an AsyncAPI 3.0 document with a channel and a message per
 * type. Every event is the envelope a receiver gets, with the three `webhook-*` headers in
 * the OpenAPI and AsyncAPI documents, and the type's example when it has one.
 *
 * @throws ValidationError `INPUT_INVALID` for a catalog or options that are not valid.
 * @throws ConfigError `CONFIG_INVALID` when a type's schema has no JSON Schema form (a
 * transform's output, a custom check with no schema), naming the type.
 *
 * @example
 * ```ts
 * const document = exportCatalog(bookkeeperEvents, { format: 'openapi', title: 'Acme ledger events' });
 * await writeFile('webhooks.openapi.json', JSON.stringify(document, null, 2));
 * ```
 */
export function exportCatalog<TFormat extends CatalogExportFormat>(catalog: EventCatalog, options: ExportCatalogOptions<TFormat>): CatalogExport<TFormat>;
export function exportCatalog(catalog: EventCatalog, options: ExportCatalogOptions): Record<string, JsonDocument> | JsonDocument {
  parseInput('INPUT_INVALID', catalogSchema, catalog, 'catalog');
  const { format, title, version, description, transforms = {} } = parseInput('INPUT_INVALID', optionsSchema, options);
  for (const [name, transform] of Object.entries(transforms)) {
    if (transform.example === undefined) continue;
    const checked = transform.schema.safeParse(transform.example);
    if (!checked.success) throwValidation('INPUT_INVALID', checked.error, transform.example, transform.schema, `transforms.${name}.example`);
  }
  const info = { title, version, ...(description === undefined ? {} : { description }) };
  const convert = (target: 'draft-2020-12' | 'draft-7', place: DefinitionsPlace) => [...convertTypes(catalog, target, place), ...convertTransforms(catalog, transforms, target, place)];
  switch (format) {
    case 'json-schema':
      return jsonSchemas(convert);
    case 'openapi':
      return openApiDocument(convert, info);
    case 'asyncapi':
      return asyncApiDocument(convert, info);
  }
}

/** Converts the catalog's types and the described transforms for a target, refs pointed at `place`. */
type Convert = (target: 'draft-2020-12' | 'draft-7', place: DefinitionsPlace) => ConvertedType[];

function jsonSchemas(convert: Convert): Record<string, JsonDocument> {
  const place: DefinitionsPlace = { key: '$defs', refPrefix: '#/$defs/' };
  const schemas: Record<string, JsonDocument> = {};
  for (const converted of convert('draft-2020-12', place)) {
    schemas[converted.type] = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      title: converted.type,
      ...converted.envelope,
      ...(Object.keys(converted.definitions).length === 0 ? {} : { $defs: converted.definitions }),
      ...(converted.example === undefined ? {} : { examples: [converted.example] }),
    };
  }
  return schemas;
}

function openApiDocument(convert: Convert, info: JsonDocument): JsonDocument {
  const place: DefinitionsPlace = { key: '$defs', refPrefix: '#/components/schemas/' };
  const converted = convert('draft-2020-12', place);
  const schemas = sharedDefinitions(converted);
  const webhooks: Record<string, JsonDocument> = {};
  for (const { type, envelope, example } of converted) {
    const name = componentName(type, schemas);
    schemas[name] = { title: type, ...envelope };
    webhooks[type] = {
      post: {
        operationId: type,
        summary: type,
        parameters: signatureHeaders.map((header) => ({ name: header.name, in: 'header', required: header.required ?? true, description: header.description, schema: header.schema })),
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { $ref: `#/components/schemas/${name}` },
              ...(example === undefined ? {} : { example }),
            },
          },
        },
        responses: {
          '2XX': { description: 'Received. Any 2xx within the timeout counts; answer fast and work later.' },
          '410': { description: 'Gone: the subscription is disabled and nothing more is sent.' },
          default: { description: 'Anything else (or no answer) is retried on the schedule, then the delivery ends dead.' },
        },
      },
    };
  }
  return { openapi: '3.1.0', info, webhooks, components: { schemas } };
}

function asyncApiDocument(convert: Convert, info: JsonDocument): JsonDocument {
  // AsyncAPI 3.0's default schema format is a superset of JSON Schema draft-07: definitions, not $defs.
  const place: DefinitionsPlace = { key: 'definitions', refPrefix: '#/components/schemas/' };
  const converted = convert('draft-7', place);
  const schemas = sharedDefinitions(converted);
  const channels: Record<string, JsonDocument> = {};
  const operations: Record<string, JsonDocument> = {};
  const messages: Record<string, JsonDocument> = {};
  const headers = {
    type: 'object',
    required: signatureHeaders.filter((header) => header.required ?? true).map((header) => header.name),
    properties: Object.fromEntries(signatureHeaders.map((header) => [header.name, { ...header.schema, description: header.description }])),
  };
  for (const { type, address, envelope, example } of converted) {
    const name = componentName(type, schemas);
    schemas[name] = { title: type, ...envelope };
    messages[name] = {
      name: type,
      title: type,
      contentType: 'application/json',
      headers,
      payload: { $ref: `#/components/schemas/${name}` },
      ...(example === undefined
        ? {}
        : { examples: [{ headers: { 'webhook-id': exampleId, 'webhook-timestamp': '1764754200', 'webhook-signature': 'v1,<signature>' }, payload: example }] }),
    };
    channels[name] = { address: address ?? type, messages: { [name]: { $ref: `#/components/messages/${name}` } } };
    operations[`send${name}`] = {
      action: 'send',
      summary: type.startsWith(transformPrefix)
        ? `Bookkeeper posts each signed event to the endpoints whose subscription names the transform ${type.slice(transformPrefix.length)}, its data as the transform makes it.`
        : `Bookkeeper posts a signed ${address ?? type} event to each subscribed endpoint${address === undefined ? '' : ` pinned to ${type.slice(address.length + 2)}`}.`,
      channel: { $ref: `#/channels/${name}` },
      messages: [{ $ref: `#/channels/${name}/messages/${name}` }],
    };
  }
  return { asyncapi: '3.0.0', info, defaultContentType: 'application/json', channels, operations, components: { schemas, messages } };
}

/** The named schemas of every type, once each; two different schemas under one name are refused. */
function sharedDefinitions(converted: ConvertedType[]): Record<string, JsonDocument> {
  const shared: Record<string, JsonDocument> = {};
  for (const { type, definitions } of converted) {
    for (const [name, schema] of Object.entries(definitions)) {
      if (Object.hasOwn(shared, name) && JSON.stringify(shared[name]) !== JSON.stringify(schema)) {
        throw new ConfigError('CONFIG_INVALID', `Expected one schema under the id "${name}", but event type "${type}" has another one with that id`, {
          field: type,
        });
      }
      shared[name] = schema;
    }
  }
  return shared;
}

/**
 * `payment.succeeded` → `PaymentSucceededEvent`, `payment.succeeded@v1` →
 * `PaymentSucceededV1Event`, `transform:thin` → `ThinTransformEvent`, unless a named schema
 * already has that name.
 */
function componentName(type: string, taken: Record<string, JsonDocument>): string {
  const transform = type.startsWith(transformPrefix);
  const name = `${(transform ? type.slice(transformPrefix.length) : type)
    .split(/[._@-]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')}${transform ? 'TransformEvent' : 'Event'}`;
  if (Object.hasOwn(taken, name)) {
    throw new ConfigError('CONFIG_INVALID', `Expected no schema id "${name}" in the catalog: it is the name exported for event type "${type}"`, {
      field: type,
    });
  }
  return name;
}

/** The key a transform is exported under, beside the event types. */
const transformPrefix = 'transform:';

/** What a subscription with each described transform receives: any catalog type's envelope, with the transform's `data`. */
function convertTransforms(
  catalog: EventCatalog,
  transforms: Record<string, ExportedTransform>,
  target: 'draft-2020-12' | 'draft-7',
  place: DefinitionsPlace,
): ConvertedType[] {
  return Object.entries(transforms).map(([name, transform]) => {
    const key = `${transformPrefix}${name}`;
    const { data, definitions } = dataSchema(key, transform.schema, target, place);
    const description = `The body a subscription with the transform ${name} receives: the envelope of any event type, its data as the transform makes it.${
      transform.description === undefined ? '' : ` ${transform.description}`
    }`;
    // A transformed subscription pinned to a version gets the envelope's `version` too, for the types with versions.
    const envelope = envelopeSchema(description, { type: 'string', enum: [...catalog.types] }, data, hasEventVersions(catalog) ? 'any' : undefined);
    const [firstType] = catalog.types;
    const firstVersions = firstType === undefined ? undefined : eventTypeVersions(catalog, firstType);
    const example =
      transform.example === undefined
        ? undefined
        : { id: exampleId, type: firstType, ...(firstVersions === undefined ? {} : { version: firstVersions.newest }), timestamp: exampleTimestamp, data: transform.example };
    return { type: key, envelope, definitions, example };
  });
}

/**
 * The envelope `{ id, type, version?, timestamp, environment?, orderingKey?, metadata?, data }` with `type`, `version` (for a versioned type) and `data` as given;
 * `version: 'any'` for an envelope of any type of a catalog with versions: present, any version, for those types only.
 */
function envelopeSchema(description: string, type: JsonDocument, data: JsonDocument, version?: { version: number; newest: number } | 'any'): JsonDocument {
  return {
    type: 'object',
    description,
    properties: {
      id: { type: 'string', minLength: 1, description: 'The event id, also in the webhook-id header: the same on every retry.' },
      type,
      ...(version === undefined
        ? {}
        : version === 'any'
          ? {
              version: {
                type: 'integer',
                minimum: 1,
                description: 'For an event type with versions, the version data is in: the one the subscription is pinned to; absent for the other types.',
              },
            }
          : {
              version: {
                type: 'integer',
                const: version.version,
                description: `The version data is in: the one the subscription is pinned to (newest: ${version.newest}).`,
              },
            }),
      timestamp: { type: 'string', format: 'date-time', description: 'When the event was published (ISO 8601, UTC).' },
      environment: {
        type: 'string',
        pattern: '^[a-z][a-z0-9_-]{0,31}$',
        description: "The sender's environment, when it sets one: refuse events of another environment.",
      },
      orderingKey: {
        type: 'string',
        minLength: 1,
        maxLength: ORDERING_KEY_MAX_LENGTH,
        description:
          'The ordering key the event was published with, when it was: the events of one key reach each subscription in publish order (see the webhook-sequence header); absent otherwise.',
      },
      metadata: {
        type: 'object',
        propertyNames: { pattern: metadataKeyPattern.source },
        additionalProperties: { type: 'string', maxLength: METADATA_MAX_VALUE_LENGTH },
        maxProperties: METADATA_MAX_KEYS,
        description: 'Strings the publisher attached to the event for routing and context, when it attached any; absent otherwise.',
      },
      data,
    },
    required: version === undefined || version === 'any' ? ['id', 'type', 'timestamp', 'data'] : ['id', 'type', 'version', 'timestamp', 'data'],
    additionalProperties: false,
  };
}

function convertTypes(catalog: EventCatalog, target: 'draft-2020-12' | 'draft-7', place: DefinitionsPlace): ConvertedType[] {
  const examples = catalog.examples as Record<string, unknown>;
  return catalog.types.flatMap((type) => {
    const versions = eventTypeVersions(catalog, type);
    if (versions === undefined) {
      const { data, definitions } = dataSchema(type, catalog.schemas[type]!, target, place);
      const envelope = envelopeSchema(`The body of a ${type} webhook: the envelope Bookkeeper signs, byte for byte as sent.`, { type: 'string', const: type }, data);
      // A type without an example exports none (reading catalog.examples checks the example against its schema).
      const example = Object.hasOwn(examples, type) ? { id: exampleId, type, timestamp: exampleTimestamp, data: examples[type] } : undefined;
      return [{ type, envelope, definitions, example }];
    }
    // Newest first, under the type's own name; each older version under `<type>@v<n>`.
    return [...versions.list].reverse().map((version): ConvertedType => {
      const newest = version === versions.newest;
      const key = newest ? type : `${type}@v${version}`;
      const { data, definitions } = dataSchema(key, versions.schemas[version]!, target, place);
      const description = newest
        ? `The body of a ${type} webhook in version ${version}, the newest (what a subscription created now is pinned to): the envelope Bookkeeper signs, byte for byte as sent.`
        : `The body of a ${type} webhook in version ${version} (the newest is ${versions.newest}), what a subscription pinned to version ${version} receives: the envelope Bookkeeper signs, byte for byte as sent.`;
      const envelope = envelopeSchema(description, { type: 'string', const: type }, data, { version, newest: versions.newest });
      const example = Object.hasOwn(versions.examples, version)
        ? { id: exampleId, type, version, timestamp: exampleTimestamp, data: versions.examples[version] }
        : undefined;
      return { type: key, ...(newest ? {} : { address: type }), envelope, definitions, example };
    });
  });
}

/** The JSON Schema of a type's `data`, its shared definitions apart and its refs pointed at `place`. */
function dataSchema(
  type: string,
  schema: z.ZodType,
  target: 'draft-2020-12' | 'draft-7',
  place: DefinitionsPlace,
): { data: JsonDocument; definitions: Record<string, JsonDocument> } {
  let converted: JsonDocument;
  try {
    converted = z.toJSONSchema(schema, { target, io: 'output', unrepresentable: 'throw' }) as JsonDocument;
  } catch (error) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `Expected the schema of ${type.startsWith(transformPrefix) ? `the transform ${type.slice(transformPrefix.length)}` : `event type "${type}"`} to have a JSON Schema form, but zod could not convert it: ${error instanceof Error ? error.message : String(error)}`,
      { field: type.startsWith(transformPrefix) ? `transforms.${type.slice(transformPrefix.length)}.schema` : type, cause: error },
    );
  }
  const { $schema: _schema, [place.key]: definitions = {}, ...data } = converted;
  const ownPrefix = place.key === '$defs' ? '#/$defs/' : '#/definitions/';
  const repoint = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(repoint);
    if (typeof value !== 'object' || value === null) return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        key === '$ref' && typeof item === 'string' && item.startsWith(ownPrefix) ? place.refPrefix + item.slice(ownPrefix.length) : repoint(item),
      ]),
    );
  };
  return { data: repoint(data) as JsonDocument, definitions: repoint(definitions) as Record<string, JsonDocument> };
}
