/**
 * The event catalog: the event types a host may publish, each with the zod schema
 * its `data` must satisfy. `publish` validates against it; subscriptions' filters
 * are checked against it, so a typo like `payment.succeded` fails at registration
 * instead of silently matching nothing.
 *
 * A type may have versions (`{ versions: { 1: { schema }, 2: { schema, downgrade } } }`):
 * consecutive positive integers, each with its schema, each but the oldest with a pure
 * `downgrade` from its data to the data of the version below. `publish` takes the newest
 * version's data (`catalog.schemas[type]` is the newest schema); a subscription pinned to an
 * older version gets it downgraded step by step (routing/event-versions.ts).
 */
import { z } from 'zod';
import { describeIssues } from '../describe-issues.js';
import { ConfigError, describeValue } from '../errors.js';
import { eventTypeFilterKind } from '../registry/event-type-filter.js';

/** Event type → zod schema of its `data`. */
export type EventSchemas = Record<string, z.ZodType>;

/** The highest version number a versioned event type may have. */
export const MAX_EVENT_VERSION = 99;

/** One version of a versioned event type, as {@link defineEvents} takes it. */
export interface EventVersionDefinition {
  /** The schema of this version's `data`. */
  readonly schema: z.ZodType;
  /** An example of this version's `data`, checked against `schema` when first read. */
  readonly example?: unknown;
  /**
   * From this version's data (its schema's output) to the data of the version below (what
   * that version's schema accepts): pure and synchronous. Required on every version but the
   * oldest, refused on the oldest.
   */
  // `any`, not `never`: an annotated parameter is then checked against the version's schema by defineEvents.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  readonly downgrade?: (data: any) => unknown;
}

/**
 * A versioned event type: its versions by number (consecutive positive integers up to
 * {@link MAX_EVENT_VERSION}, e.g. `{ 1: { schema: v1 }, 2: { schema: v2, downgrade } }`).
 */
export interface VersionedEventDefinition {
  readonly versions: Readonly<Record<number, EventVersionDefinition>>;
}

/**
 * One event type as {@link defineEvents} takes it: its zod schema, the schema with an
 * `example` of its `data` (checked against the schema when the catalog is defined), or its
 * versions.
 */
export type EventDefinition = z.ZodType | { readonly schema: z.ZodType; readonly example?: unknown } | VersionedEventDefinition;

/** Event type → {@link EventDefinition}. */
export type EventDefinitions = Record<string, EventDefinition>;

/** A version key (`1`, or `'1'` when written as a string) as its number. */
type VersionNumber<TKey> = TKey extends number ? TKey : TKey extends `${infer TNumber extends number}` ? TNumber : never;
/** N → N - 1, and N → N + 1, for the version numbers the types follow. */
type PreviousNumbers = [never, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31];
type NextNumbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32];
type PreviousNumber<TNumber> = TNumber extends keyof PreviousNumbers ? PreviousNumbers[TNumber] : never;
type NextNumber<TNumber> = TNumber extends keyof NextNumbers ? NextNumbers[TNumber] : never;

/** The key of the version below `TKey` in a versions map; `never` for the oldest. */
type PreviousVersionKey<TVersions, TKey> = {
  [TOther in keyof TVersions]: [VersionNumber<TOther>] extends [PreviousNumber<VersionNumber<TKey>>] ? TOther : never;
}[keyof TVersions];

/** The key of the newest version of a versions map (the one no version follows). */
export type NewestVersionKey<TVersions> = {
  [TKey in keyof TVersions]: [NextNumber<VersionNumber<TKey>>] extends [VersionNumber<keyof TVersions>] ? never : TKey;
}[keyof TVersions];

/** The schema of version `TKey` of a versions map. */
type VersionSchemaAt<TVersions, TKey> = TKey extends keyof TVersions ? (TVersions[TKey] extends { readonly schema: infer TSchema extends z.ZodType } ? TSchema : never) : never;

/** The schema of an {@link EventDefinition}: for a versioned type, its newest version's. */
export type SchemaOfDefinition<TDefinition> = TDefinition extends { readonly versions: infer TVersions }
  ? VersionSchemaAt<TVersions, NewestVersionKey<TVersions>>
  : TDefinition extends { readonly schema: infer TSchema extends z.ZodType }
    ? TSchema
    : TDefinition extends z.ZodType
      ? TDefinition
      : never;

/** Event type → version number → schema, of the versioned types of a catalog. */
export type EventVersionSchemas = Record<string, Record<number, z.ZodType>>;

/** Versioned event type → version number → schema, from the definitions given to {@link defineEvents}. */
export type VersionSchemasOfDefinitions<TDefinitions> = {
  [TType in keyof TDefinitions as TDefinitions[TType] extends { readonly versions: unknown } ? TType : never]: TDefinitions[TType] extends {
    readonly versions: infer TVersions;
  }
    ? { [TKey in keyof TVersions as VersionNumber<TKey>]: VersionSchemaAt<TVersions, TKey> }
    : never;
};

/** Event type → schema, from the definitions given to {@link defineEvents}. */
export type SchemasOfDefinitions<TDefinitions> = { [TType in keyof TDefinitions]: SchemaOfDefinition<TDefinitions[TType]> };

/** The event types whose definition has an example (for a versioned type: its newest version has one). */
export type ExampleTypesOfDefinitions<TDefinitions> = {
  [TType in keyof TDefinitions]: TDefinitions[TType] extends { readonly versions: infer TVersions }
    ? NewestVersionKey<TVersions> extends keyof TVersions
      ? TVersions[NewestVersionKey<TVersions>] extends { readonly example: unknown }
        ? TType
        : never
      : never
    : TDefinitions[TType] extends { readonly example: unknown }
      ? TType
      : never;
}[keyof TDefinitions];

/** `T` with every object and array readonly, as an example written `as const` is. */
type DeepReadonly<T> = T extends (infer TItem)[]
  ? readonly DeepReadonly<TItem>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/**
 * Each version's example typed as what its schema accepts, and its `downgrade` as a function
 * from its schema's output to what the schema of the version below accepts.
 */
type CheckedVersions<TVersions> = {
  [TKey in keyof TVersions]: TVersions[TKey] extends { readonly schema: infer TSchema extends z.ZodType }
    ? {
        readonly schema: TSchema;
        readonly example?: DeepReadonly<z.input<TSchema>>;
        readonly downgrade?: [VersionSchemaAt<TVersions, PreviousVersionKey<TVersions, TKey>>] extends [never]
          ? never
          : (data: z.output<TSchema>) => z.input<VersionSchemaAt<TVersions, PreviousVersionKey<TVersions, TKey>>>;
      }
    : EventVersionDefinition;
};

/** Each definition's example typed as what its schema accepts (`publish`'s `data`), readonly or not. */
type CheckedDefinitions<TDefinitions> = {
  [TType in keyof TDefinitions]: TDefinitions[TType] extends z.ZodType
    ? TDefinitions[TType]
    : TDefinitions[TType] extends { readonly versions: infer TVersions }
      ? { readonly versions: CheckedVersions<TVersions> }
      : TDefinitions[TType] extends { readonly schema: infer TSchema extends z.ZodType }
        ? { readonly schema: TSchema; readonly example?: DeepReadonly<z.input<TSchema>> }
        : EventDefinition;
};

/**
 * The examples of a catalog, by type: present for the types defined with one
 * (`TExampleTypes`), possibly absent for the others. Each is a valid `data` of its type,
 * as `publish` accepts it.
 */
export type EventExamples<TSchemas extends EventSchemas, TExampleTypes extends keyof TSchemas = never> = {
  readonly [TType in TExampleTypes]: z.input<TSchemas[TType]>;
} & { readonly [TType in Exclude<keyof TSchemas, TExampleTypes>]?: z.input<TSchemas[TType]> };

/** The versions of a versioned event type, as a catalog holds them. */
export interface EventTypeVersions<TVersionSchemas extends Record<number, z.ZodType> = Record<number, z.ZodType>> {
  /** The version numbers, oldest first (consecutive). */
  readonly list: readonly number[];
  readonly oldest: number;
  /** The version `publish` takes (its schema is the catalog's `schemas[type]`). */
  readonly newest: number;
  /** Each version's schema. */
  readonly schemas: Readonly<TVersionSchemas>;
  /** Each version's example, for the versions defined with one: frozen, checked against its schema when first read. */
  readonly examples: Readonly<Partial<Record<number, unknown>>>;
  /** Each version's `downgrade` to the version below, for every version but the oldest. */
  readonly downgrades: Readonly<Partial<Record<number, (data: unknown) => unknown>>>;
}

/** A catalog's versioned types, each with its {@link EventTypeVersions}. */
export type EventCatalogVersions<TVersionSchemas extends EventVersionSchemas = EventVersionSchemas> = {
  readonly [TType in keyof TVersionSchemas]: EventTypeVersions<TVersionSchemas[TType]>;
};

/** A catalog made by {@link defineEvents}. */
export interface EventCatalog<
  TSchemas extends EventSchemas = EventSchemas,
  TExampleTypes extends keyof TSchemas = never,
  TVersionSchemas extends EventVersionSchemas = EventVersionSchemas,
> {
  /** Each type's schema: for a versioned type, its newest version's (what `publish` takes). */
  readonly schemas: Readonly<TSchemas>;
  /** The event types, in definition order. */
  readonly types: readonly (keyof TSchemas & string)[];
  /**
   * An example `data` per type, for the types defined with one (`{ schema, example }`):
   * frozen, and checked against the type's schema when first read (`CONFIG_INVALID` if it
   * fails). For documentation, test senders and exported schemas.
   */
  readonly examples: EventExamples<TSchemas, TExampleTypes>;
  /**
   * The versioned types with their versions (`{ versions: … }` definitions); a type defined
   * by one schema is not in it. Read it with {@link eventTypeVersions}, which also serves a
   * catalog made by an older copy of the package, without this field.
   */
  readonly versions: EventCatalogVersions<TVersionSchemas>;
  /** True when `type` is in the catalog. */
  has(type: string): type is keyof TSchemas & string;
}

/**
 * Whether `value` is a catalog made by {@link defineEvents}: recognised by its shape (`has`,
 * `types`, `schemas`, `examples`), not by identity, so that a catalog built by another copy
 * of the package (a host's module, loaded by the CLI's `--catalog`) is one too.
 */
export function isEventCatalog(value: unknown): value is EventCatalog {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof EventCatalog, unknown>>;
  return (
    typeof candidate.has === 'function' &&
    Array.isArray(candidate.types) &&
    typeof candidate.schemas === 'object' &&
    candidate.schemas !== null &&
    typeof candidate.examples === 'object' &&
    candidate.examples !== null
  );
}

/** The versions of `type` in `catalog`; `undefined` for a type with one schema (or a catalog without versions). */
export function eventTypeVersions(catalog: EventCatalog, type: string): EventTypeVersions | undefined {
  const versions = (catalog as Partial<EventCatalog>).versions as Record<string, EventTypeVersions> | undefined;
  return versions !== undefined && Object.hasOwn(versions, type) ? versions[type] : undefined;
}

/** True when some type of `catalog` has versions. */
export function hasEventVersions(catalog: EventCatalog): boolean {
  const versions = (catalog as Partial<EventCatalog>).versions;
  return versions !== undefined && Object.keys(versions).length > 0;
}

/** Versioned event type → version number → the data of that version (its schema's output); `never` for a type without versions. */
export type EventVersionDataOf<TCatalog, TType extends string> = TCatalog extends { readonly versions: infer TVersions }
  ? TType extends keyof TVersions
    ? TVersions[TType] extends { readonly schemas: infer TVersionSchemas }
      ? { [TVersion in keyof TVersionSchemas & number]: TVersionSchemas[TVersion] extends z.ZodType ? z.output<TVersionSchemas[TVersion]> : never }
      : never
    : never
  : never;

/**
 * What a subscription's `versions` accepts for a catalog: each versioned type → one of its
 * version numbers (any type → any number for a catalog not known to the compiler).
 */
export type VersionPinsOf<TCatalog> = TCatalog extends { readonly versions: infer TVersions }
  ? string extends keyof TVersions
    ? Record<string, number>
    : { [TType in keyof TVersions]?: TVersions[TType] extends { readonly schemas: infer TVersionSchemas } ? keyof TVersionSchemas & number : never }
  : Record<string, number>;

/** The event types of a catalog. */
export type EventTypeOf<TCatalog> = TCatalog extends EventCatalog<infer S> ? keyof S & string : never;

/** What `publish` accepts as `data` for an event type (the schema's input). */
export type EventInputOf<TCatalog, TType extends string> =
  TCatalog extends EventCatalog<infer S> ? (TType extends keyof S ? z.input<S[TType]> : never) : never;

/** What a stored event carries as `data` (the schema's output). */
export type EventDataOf<TCatalog, TType extends string> =
  TCatalog extends EventCatalog<infer S> ? (TType extends keyof S ? z.output<S[TType]> : never) : never;

function isZodSchema(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && typeof (value as { safeParse?: unknown }).safeParse === 'function';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Freezes the plain objects and arrays of an example, so no reader can change it for the others. */
function deepFreeze<T>(value: T): T {
  if ((Array.isArray(value) || isPlainObject(value)) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value as object)) deepFreeze(item);
  }
  return value;
}

const definitionKeys = new Set(['schema', 'example']);
const versionKeys = new Set(['schema', 'example', 'downgrade']);

/** A type's definition as read: its schema (the newest version's), its example, and its versions when it has some. */
interface ReadDefinition {
  schema: z.ZodType;
  example?: unknown;
  versions?: EventTypeVersions;
}

/**
 * The schema of a type's definition, with its example when it has one, and its versions.
 * @throws ConfigError `CONFIG_INVALID` naming the type (or the version's field) as the field.
 */
function readDefinition(type: string, definition: unknown): ReadDefinition {
  if (isZodSchema(definition)) return { schema: definition };
  if (!isPlainObject(definition)) {
    throw new ConfigError('CONFIG_INVALID', `Expected a zod schema, { schema, example } or { versions } for event type "${type}", got ${describeValue(definition)}`, {
      field: type,
    });
  }
  if (Object.hasOwn(definition, 'versions')) return readVersions(type, definition);
  const unknownKey = Object.keys(definition).find((key) => !definitionKeys.has(key));
  if (unknownKey !== undefined) {
    throw new ConfigError('CONFIG_INVALID', `Expected only \`schema\` and \`example\` (or \`versions\` alone) in the definition of event type "${type}", got \`${unknownKey}\``, {
      field: type,
    });
  }
  const { schema } = definition;
  if (!isZodSchema(schema)) {
    throw new ConfigError('CONFIG_INVALID', `Expected a zod schema as the \`schema\` of event type "${type}", got ${describeValue(schema)}`, {
      field: type,
    });
  }
  return Object.hasOwn(definition, 'example') ? { schema, example: deepFreeze(definition.example) } : { schema };
}

/**
 * A versioned type's definition: `{ versions: { 1: { schema, example? }, 2: { schema, example?,
 * downgrade }, … } }`, consecutive positive integers, a `downgrade` on each but the oldest.
 * @throws ConfigError `CONFIG_INVALID` naming the field (`<type>.versions.<n>.downgrade`, …).
 */
function readVersions(type: string, definition: Record<string, unknown>): ReadDefinition {
  const refuse = (field: string, message: string): never => {
    throw new ConfigError('CONFIG_INVALID', message, { field });
  };
  const unknownKey = Object.keys(definition).find((key) => key !== 'versions');
  if (unknownKey !== undefined) refuse(type, `Expected only \`versions\` in the definition of versioned event type "${type}", got \`${unknownKey}\` (each version has its own schema and example)`);
  const given = definition.versions;
  if (!isPlainObject(given)) refuse(`${type}.versions`, `Expected the \`versions\` of event type "${type}" to be an object of versions by number, got ${describeValue(given)}`);
  const keys = Object.keys(given as Record<string, unknown>);
  if (keys.length === 0) refuse(`${type}.versions`, `Expected the \`versions\` of event type "${type}" to list at least one version, got none`);
  const badKey = keys.find((key) => !/^[1-9][0-9]?$/.test(key));
  if (badKey !== undefined) {
    refuse(`${type}.versions.${badKey}`, `Expected each version of event type "${type}" to be an integer from 1 to ${MAX_EVENT_VERSION}, got ${JSON.stringify(badKey)}`);
  }
  // Integer-like keys enumerate in ascending order.
  const list = keys.map(Number);
  const gap = list.findIndex((version, i) => i > 0 && version !== list[i - 1]! + 1);
  if (gap !== -1) {
    refuse(`${type}.versions.${list[gap]}`, `Expected the versions of event type "${type}" to be consecutive, got ${list[gap - 1]} then ${list[gap]}: each version's downgrade goes to the one below`);
  }
  const schemas: Record<number, z.ZodType> = {};
  const examples: Record<number, unknown> = {};
  const downgrades: Record<number, (data: unknown) => unknown> = {};
  for (const version of list) {
    const field = `${type}.versions.${version}`;
    const entry = (given as Record<string, unknown>)[version];
    if (!isPlainObject(entry)) refuse(field, `Expected version ${version} of event type "${type}" to be { schema, example?, downgrade? }, got ${describeValue(entry)}`);
    const versionDefinition = entry as Record<string, unknown>;
    const extra = Object.keys(versionDefinition).find((key) => !versionKeys.has(key));
    if (extra !== undefined) refuse(field, `Expected only \`schema\`, \`example\` and \`downgrade\` in version ${version} of event type "${type}", got \`${extra}\``);
    const schema = versionDefinition.schema;
    if (!isZodSchema(schema)) refuse(`${field}.schema`, `Expected a zod schema as the \`schema\` of version ${version} of event type "${type}", got ${describeValue(schema)}`);
    schemas[version] = schema as z.ZodType;
    if (Object.hasOwn(versionDefinition, 'example')) {
      addCheckedExample(examples, version, `version ${version} of event type "${type}"`, `${field}.example`, schema as z.ZodType, deepFreeze(versionDefinition.example));
    }
    const downgrade = versionDefinition.downgrade;
    if (version === list[0]) {
      if (downgrade !== undefined) refuse(`${field}.downgrade`, `Expected no \`downgrade\` on version ${version} of event type "${type}": it is the oldest, there is nothing below it`);
    } else if (typeof downgrade !== 'function') {
      refuse(`${field}.downgrade`, `Expected a \`downgrade\` function (data of version ${version} → data of version ${version - 1}) on version ${version} of event type "${type}", got ${describeValue(downgrade)}`);
    } else downgrades[version] = downgrade as (data: unknown) => unknown;
  }
  const newest = list[list.length - 1]!;
  const versions: EventTypeVersions = Object.freeze({
    list: Object.freeze(list),
    oldest: list[0]!,
    newest,
    schemas: Object.freeze(schemas),
    examples: Object.freeze(examples),
    downgrades: Object.freeze(downgrades),
  });
  const newestDefinition = (given as Record<string, Record<string, unknown>>)[newest]!;
  // The type's example is its newest version's, as publish takes it (frozen above).
  return Object.hasOwn(newestDefinition, 'example') ? { schema: schemas[newest]!, example: newestDefinition.example, versions } : { schema: schemas[newest]!, versions };
}

/**
 * Adds `example` to `examples` under `key`, checked against `schema` when first read (see
 * {@link defineEvents}: checking when the catalog is defined would make every importer pay
 * zod's first parse of each schema).
 */
function addCheckedExample(examples: Record<string | number, unknown>, key: string | number, label: string, field: string, schema: z.ZodType, example: unknown): void {
  let checked = false;
  Object.defineProperty(examples, key, {
    enumerable: true,
    get() {
      if (!checked) checkExample(label, field, schema, example);
      checked = true;
      return example;
    },
  });
}

/**
 * Throws unless `example` is valid data of `schema`; `label` names it in the message (`event type "x"`).
 * @throws ConfigError `CONFIG_INVALID` naming `field` (the type, or `<type>.versions.<n>.example`), with the issues.
 */
function checkExample(label: string, field: string, schema: z.ZodType, example: unknown): void {
  const parsed = schema.safeParse(example);
  if (parsed.success) return;
  const { message } = describeIssues(parsed.error, example, { schema, prefix: 'example' });
  throw new ConfigError('CONFIG_INVALID', `Expected the example of ${label} to be valid data of its schema: ${message}`, {
    field,
    cause: parsed.error,
  });
}

/**
 * Defines an event catalog: each type with its zod schema, with `{ schema, example }`, or
 * with its versions, `{ versions: { 1: { schema, example? }, 2: { schema, example?, downgrade
 * } } }` — consecutive integers from any start up to 99, each but the oldest with a pure
 * `downgrade` from its data to the data of the version below (its result is checked against
 * what that version's schema accepts; annotate its parameter, `z.output<typeof v2>`, to type it).
 * `publish` takes the newest version's data; a subscription pinned to an older version
 * receives it downgraded. A versioned type's `schemas[type]` and `examples[type]` are its
 * newest version's; `versions[type]` has them all.
 * An example is frozen and readable as `catalog.examples[type]`; it must be valid `data`
 * of its schema, which is checked when it is first read (a wrong one throws
 * `CONFIG_INVALID` there). Checking them when the catalog is defined would make every
 * process that imports a catalog pay zod's first parse of each schema, which only the
 * readers of examples (docs, test senders, exports) need.
 *
 * @example
 * ```ts
 * const events = defineEvents({
 *   'invoice.voided': z.object({ invoiceId: z.string() }),
 *   'invoice.paid': {
 *     schema: z.object({ invoiceId: z.string(), amount: moneySchema }),
 *     example: { invoiceId: 'inv_1', amount: { amount: 1230, currency: 'EUR', exponent: 2 } },
 *   },
 *   'invoice.sent': {
 *     versions: {
 *       1: { schema: z.object({ invoiceId: z.string(), to: z.string() }) },
 *       2: {
 *         schema: sentV2,
 *         downgrade: (data: z.output<typeof sentV2>) => ({ invoiceId: data.invoiceId, to: data.recipients[0]! }),
 *       },
 *     },
 *   },
 * });
 * ```
 */
export function defineEvents<const TDefinitions extends EventDefinitions>(
  definitions: TDefinitions & CheckedDefinitions<TDefinitions>,
): EventCatalog<SchemasOfDefinitions<TDefinitions>, ExampleTypesOfDefinitions<TDefinitions>, VersionSchemasOfDefinitions<TDefinitions>> {
  if (typeof definitions !== 'object' || definitions === null || Array.isArray(definitions)) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`defineEvents\` to get an object of zod schemas, got ${describeValue(definitions)}`);
  }
  try {
    return readCatalog(definitions as EventDefinitions) as never;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // A getter or a Proxy trap of the definitions threw while they were read.
    throw new ConfigError('CONFIG_INVALID', `Expected \`defineEvents\` to get definitions that can be read, got an object whose reading threw (${error instanceof Error ? error.message : String(error)})`, {
      cause: error,
    });
  }
}

/** The catalog of `definitions`, checked (see {@link defineEvents}). */
function readCatalog(definitions: EventDefinitions): EventCatalog {
  const types = Object.keys(definitions);
  if (types.length === 0) {
    throw new ConfigError('CONFIG_INVALID', 'Expected `defineEvents` to get at least one event type, got none');
  }
  const schemas: Record<string, z.ZodType> = {};
  const examples: Record<string, unknown> = {};
  const versions: Record<string, EventTypeVersions> = {};
  for (const type of types) {
    if (eventTypeFilterKind(type) !== 'exact') {
      throw new ConfigError(
        'CONFIG_INVALID',
        `Expected event type ${JSON.stringify(type)} to be dot-separated lowercase segments such as "payment.succeeded"`,
        { field: type },
      );
    }
    const definition = readDefinition(type, definitions[type]);
    schemas[type] = definition.schema;
    if ('example' in definition) addCheckedExample(examples, type, `event type "${type}"`, type, definition.schema, definition.example);
    if (definition.versions !== undefined) versions[type] = definition.versions;
  }
  const typeSet = new Set(types);
  return Object.freeze({
    schemas: Object.freeze(schemas),
    types: Object.freeze(types),
    examples: Object.freeze(examples),
    versions: Object.freeze(versions),
    has: (type: string): type is string => typeSet.has(type),
  }) as unknown as EventCatalog;
}

// Schemas built by this copy of zod share its version object; only those are compiled.
const ownZodVersion = z.never()._zod.version;
const compiledSchemas = new WeakMap<z.ZodType, z.ZodType>();

/**
 * The schema `publish` validates with: `z.compile(schema)`, zod's own generated fast
 * path, which parses a valid payload without the runtime's per-field result objects
 * and hands anything invalid to the runtime parser, so the issues are the same.
 * Measured on `payment.succeeded` with a 1 KB payload: 0.36 µs and ~0.5 KB of garbage
 * a parse instead of 1.9 µs and ~3.5 KB. Compiling costs 1–10 ms once per schema (the
 * Bookkeeper catalog's), so it is done on the first publish of a type, not for all of them
 * when an instance is created.
 *
 * A schema zod cannot compile (a reference cycle, an async check), or one built by
 * another copy of zod, whose internals this copy's compiler cannot vouch for, is used
 * as it is. The catalog's own `schemas` stay the caller's objects: a compiled clone
 * would not carry metadata registered on the original.
 *
 * @internal Cached per schema object.
 */
export function compiledSchema(schema: z.ZodType): z.ZodType {
  let compiled = compiledSchemas.get(schema);
  if (compiled === undefined) {
    compiled = schema._zod?.version === ownZodVersion ? z.compile(schema) : schema;
    compiledSchemas.set(schema, compiled);
  }
  return compiled;
}
