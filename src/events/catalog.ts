/**
 * The event catalog: the event types a host may publish, each with the zod schema
 * its `data` must satisfy. `publish` validates against it; subscriptions' filters
 * are checked against it, so a typo like `payment.succeded` fails at registration
 * instead of silently matching nothing.
 */
import { z } from 'zod';
import { describeIssues } from '../describe-issues.js';
import { ConfigError, describeValue } from '../errors.js';
import { eventTypeFilterKind } from '../registry/event-type-filter.js';

/** Event type → zod schema of its `data`. */
export type EventSchemas = Record<string, z.ZodType>;

/**
 * One event type as {@link defineEvents} takes it: its zod schema, or the schema with an
 * `example` of its `data` (checked against the schema when the catalog is defined).
 */
export type EventDefinition = z.ZodType | { readonly schema: z.ZodType; readonly example?: unknown };

/** Event type → {@link EventDefinition}. */
export type EventDefinitions = Record<string, EventDefinition>;

/** The schema of an {@link EventDefinition}. */
export type SchemaOfDefinition<TDefinition> = TDefinition extends { readonly schema: infer TSchema extends z.ZodType }
  ? TSchema
  : TDefinition extends z.ZodType
    ? TDefinition
    : never;

/** Event type → schema, from the definitions given to {@link defineEvents}. */
export type SchemasOfDefinitions<TDefinitions> = { [TType in keyof TDefinitions]: SchemaOfDefinition<TDefinitions[TType]> };

/** The event types whose definition has an example. */
export type ExampleTypesOfDefinitions<TDefinitions> = {
  [TType in keyof TDefinitions]: TDefinitions[TType] extends { readonly example: unknown } ? TType : never;
}[keyof TDefinitions];

/** `T` with every object and array readonly, as an example written `as const` is. */
type DeepReadonly<T> = T extends (infer TItem)[]
  ? readonly DeepReadonly<TItem>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** Each definition's example typed as what its schema accepts (`publish`'s `data`), readonly or not. */
type CheckedDefinitions<TDefinitions> = {
  [TType in keyof TDefinitions]: TDefinitions[TType] extends z.ZodType
    ? TDefinitions[TType]
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

/** A catalog made by {@link defineEvents}. */
export interface EventCatalog<TSchemas extends EventSchemas = EventSchemas, TExampleTypes extends keyof TSchemas = never> {
  readonly schemas: Readonly<TSchemas>;
  /** The event types, in definition order. */
  readonly types: readonly (keyof TSchemas & string)[];
  /**
   * An example `data` per type, for the types defined with one (`{ schema, example }`):
   * frozen, and checked against the type's schema when first read (`CONFIG_INVALID` if it
   * fails). For documentation, test senders and exported schemas.
   */
  readonly examples: EventExamples<TSchemas, TExampleTypes>;
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

/**
 * The schema of a type's definition, with its example when it has one.
 * @throws ConfigError `CONFIG_INVALID` naming the type as the field.
 */
function readDefinition(type: string, definition: unknown): { schema: z.ZodType; example?: unknown } {
  if (isZodSchema(definition)) return { schema: definition };
  if (!isPlainObject(definition)) {
    throw new ConfigError('CONFIG_INVALID', `Expected a zod schema or { schema, example } for event type "${type}", got ${describeValue(definition)}`, {
      field: type,
    });
  }
  const unknownKey = Object.keys(definition).find((key) => !definitionKeys.has(key));
  if (unknownKey !== undefined) {
    throw new ConfigError('CONFIG_INVALID', `Expected only \`schema\` and \`example\` in the definition of event type "${type}", got \`${unknownKey}\``, {
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
 * Throws unless `example` is valid data of `schema`.
 * @throws ConfigError `CONFIG_INVALID` naming the type as the field, with the issues.
 */
function checkExample(type: string, schema: z.ZodType, example: unknown): void {
  const parsed = schema.safeParse(example);
  if (parsed.success) return;
  const { message } = describeIssues(parsed.error, example, { schema, prefix: 'example' });
  throw new ConfigError('CONFIG_INVALID', `Expected the example of event type "${type}" to be valid data of its schema: ${message}`, {
    field: type,
    cause: parsed.error,
  });
}

/**
 * Defines an event catalog: each type with its zod schema, or with `{ schema, example }`.
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
 * });
 * ```
 */
export function defineEvents<const TDefinitions extends EventDefinitions>(
  definitions: TDefinitions & CheckedDefinitions<TDefinitions>,
): EventCatalog<SchemasOfDefinitions<TDefinitions>, ExampleTypesOfDefinitions<TDefinitions>> {
  if (typeof definitions !== 'object' || definitions === null || Array.isArray(definitions)) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`defineEvents\` to get an object of zod schemas, got ${describeValue(definitions)}`);
  }
  const types = Object.keys(definitions);
  if (types.length === 0) {
    throw new ConfigError('CONFIG_INVALID', 'Expected `defineEvents` to get at least one event type, got none');
  }
  const schemas: Record<string, z.ZodType> = {};
  const examples: Record<string, unknown> = {};
  const addExample = (type: string, schema: z.ZodType, example: unknown) => {
    let checked = false;
    Object.defineProperty(examples, type, {
      enumerable: true,
      get() {
        if (!checked) checkExample(type, schema, example);
        checked = true;
        return example;
      },
    });
  };
  for (const type of types) {
    if (eventTypeFilterKind(type) !== 'exact') {
      throw new ConfigError(
        'CONFIG_INVALID',
        `Expected event type ${JSON.stringify(type)} to be dot-separated lowercase segments such as "payment.succeeded"`,
        { field: type },
      );
    }
    const definition = readDefinition(type, (definitions as EventDefinitions)[type]);
    schemas[type] = definition.schema;
    if ('example' in definition) addExample(type, definition.schema, definition.example);
  }
  const typeSet = new Set(types);
  type Catalog = EventCatalog<SchemasOfDefinitions<TDefinitions>, ExampleTypesOfDefinitions<TDefinitions>>;
  return Object.freeze({
    schemas: Object.freeze(schemas) as Catalog['schemas'],
    types: Object.freeze(types) as Catalog['types'],
    examples: Object.freeze(examples) as Catalog['examples'],
    has: (type: string): type is keyof TDefinitions & string => typeSet.has(type),
  });
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
