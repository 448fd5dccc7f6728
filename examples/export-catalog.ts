// The event catalog as a published contract: `npx tsx examples/export-catalog.ts [out-dir]`.
// Writes one JSON Schema per event type, an OpenAPI 3.1 and an AsyncAPI 3.0 document.
// #region export
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bookkeeperEvents, exportCatalog } from '../src/index.js';

const out = process.argv[2] ?? 'webhook-schemas';
await mkdir(out, { recursive: true });

// One JSON Schema 2020-12 per type: the envelope a receiver gets, its `data`, and the example.
const schemas = exportCatalog(bookkeeperEvents, { format: 'json-schema' });
for (const [type, schema] of Object.entries(schemas)) {
  await writeFile(join(out, `${type}.schema.json`), JSON.stringify(schema, null, 2));
}

// One document each: OpenAPI 3.1 (`webhooks`, with the webhook-* headers) and AsyncAPI 3.0.
const info = { title: 'Acme ledger events', version: '2026-12-01' };
await writeFile(join(out, 'openapi.json'), JSON.stringify(exportCatalog(bookkeeperEvents, { format: 'openapi', ...info }), null, 2));
await writeFile(join(out, 'asyncapi.json'), JSON.stringify(exportCatalog(bookkeeperEvents, { format: 'asyncapi', ...info }), null, 2));
// #endregion export
console.log(`wrote ${Object.keys(schemas).length} schemas, openapi.json and asyncapi.json to ${out}`);
