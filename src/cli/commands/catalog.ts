/**
 * `bookkeeper-webhooks catalog export|list`: an event catalog as a published contract —
 * `exportCatalog`'s JSON Schemas, OpenAPI 3.1 or AsyncAPI 3.0 document, and the types with
 * their fields. Bookkeeper's catalog, or the host's own with `--catalog`.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { exportCatalog, type CatalogExportFormat } from '../../events/export-catalog.js';
import { catalogHelp, catalogOf, catalogOption } from '../catalog-flag.js';
import { catalogFields } from '../catalog-fields.js';
import { booleanFlag, jsonOption, requiredFlag, stringFlag, type Command } from '../command.js';
import { UsageError } from '../usage-error.js';
import { makeDirectory } from '../make-directory.js';

const formats: readonly CatalogExportFormat[] = ['json-schema', 'openapi', 'asyncapi'];

export const catalogExportCommand: Command = {
  name: 'catalog export',
  summary: 'Export the event catalog: JSON Schema per type, OpenAPI 3.1 or AsyncAPI 3.0',
  positionals: [],
  options: { format: { type: 'string' }, out: { type: 'string' }, ...catalogOption },
  help: `Usage: bookkeeper-webhooks catalog export --format json-schema|openapi|asyncapi [--out <dir>] [--catalog <module>]

Writes Bookkeeper's event catalog (or yours, with --catalog) as a contract other
tools read: each event's envelope, data schema and example.

Options:
  --format <format>       json-schema: one JSON Schema 2020-12 per event type
                          openapi:     an OpenAPI 3.1 document (its \`webhooks\` section)
                          asyncapi:    an AsyncAPI 3.0 document
  --out <dir>             write files into <dir> (created if missing) instead of stdout:
                          <type>.schema.json per type, or openapi.json / asyncapi.json
  ${catalogHelp(24)}
  -h, --help              show this help

On stdout, json-schema prints one JSON object of the schemas by event type.`,

  async run(args, io) {
    const format = requiredFlag(args, this, 'format', formats.join('|'));
    if (!(formats as readonly string[]).includes(format)) {
      throw new UsageError(`Expected --format to be one of ${formats.join(', ')}, got ${JSON.stringify(format)}`, this.name);
    }
    const catalog = await catalogOf(args, io, this);
    const exported = exportCatalog(catalog, { format: format as CatalogExportFormat });
    const out = stringFlag(args, 'out');
    if (out === undefined) {
      io.out(JSON.stringify(exported, null, 2));
      return 0;
    }
    const dir = resolve(io.cwd, out);
    await makeDirectory(dir);
    const files = format === 'json-schema' ? Object.entries(exported).map(([type, schema]) => [`${type}.schema.json`, schema] as const) : [[`${format}.json`, exported] as const];
    for (const [name, document] of files) {
      const path = join(dir, name);
      await writeFile(path, JSON.stringify(document, null, 2) + '\n');
      io.out(path);
    }
    return 0;
  },
};

export const catalogListCommand: Command = {
  name: 'catalog list',
  summary: 'List the event types with their fields',
  positionals: ['type?'],
  options: { ...catalogOption, ...jsonOption },
  help: `Usage: bookkeeper-webhooks catalog list [type] [--catalog <module>] [--json]

Lists Bookkeeper's event types (or your catalog's, with --catalog) with the fields
of their data (nested objects as dotted paths; * marks a required field). With a
type, only that one.

Options:
  ${catalogHelp(24)}
  --json                  print [{ type, fields: [{ path, type, required }] }]
  -h, --help              show this help`,

  async run(args, io) {
    const only = args.positionals[0];
    const catalog = await catalogOf(args, io, this);
    if (only !== undefined && !catalog.has(only)) {
      throw new UsageError(`Unknown event type ${JSON.stringify(only)}: expected one of ${catalog.types.join(', ')}`, this.name);
    }
    const schemas = exportCatalog(catalog, { format: 'json-schema' });
    const types = only === undefined ? catalog.types : [only];
    const listed = types.map((type) => ({ type, fields: catalogFields(schemas[type]!) }));
    if (booleanFlag(args, 'json')) {
      io.out(JSON.stringify(listed, null, 2));
      return 0;
    }
    const { bold, dim } = io.style;
    for (const { type, fields } of listed) {
      io.out(bold(type));
      const width = Math.max(...fields.map((field) => field.path.length)) + 2;
      for (const field of fields) io.out(`  ${field.path.padEnd(width)}${field.type}${field.required ? ' *' : ''}`);
      io.out();
    }
    io.out(dim('* required'));
    return 0;
  },
};
