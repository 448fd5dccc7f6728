/**
 * The README is generated where it can drift: every TypeScript block comes from a file
 * under examples/ (run by the integration tests), and the catalog reference from
 * bookkeeperEvents. These tests fail when the README and its sources disagree.
 */
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { catalogDocs, type CatalogDocs } from '../../scripts/catalog-docs.js';
import {
  catalogFields,
  codeLanguages,
  readableJson,
  readmeCodeBlocks,
  renderCatalogReference,
  renderCurrencyTable,
  renderSnippet,
  root,
  updateReadme,
} from '../../scripts/readme.js';
import { bookkeeperEvents, currencyExponents, defineEvents, moneySchema } from '../../src/index.js';

/** The shape whose heading has `anchor` (`money-shape` → `Money`), from the headings of the reference. */
function bookkeeperShapeName(reference: string, anchor: string): string {
  const heading = [...reference.matchAll(/^#### `(\w+)` shape$/gm)].find((match) => `${match[1]!.toLowerCase()}-shape` === anchor);
  return heading?.[1] ?? `no heading for #${anchor}`;
}

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = readmeCodeBlocks(readme);
const rerun = 'README.md is out of date: run `npm run docs`';

describe('README snippets', () => {
  it('binds every TypeScript and JavaScript block to a file under examples/', () => {
    const code = blocks.filter((block) => codeLanguages.has(block.lang));
    expect(code.length).toBeGreaterThan(10);
    const unmarked = code.filter((block) => block.source === undefined).map((block) => `README.md:${block.line}`);
    expect(unmarked, 'blocks without a <!-- snippet: examples/… --> line before them').toEqual([]);
  });

  it('shows each snippet exactly as its example file has it', () => {
    for (const block of blocks) {
      if (block.source === undefined) continue;
      const where = `README.md:${block.line} (${block.source.file}${block.source.region === undefined ? '' : `#${block.source.region}`}): ${rerun}`;
      expect(block.code, where).toBe(renderSnippet(block.source));
    }
  });

  it('imports only the package entry points in snippets, never src/', () => {
    const code = blocks.filter((block) => block.source !== undefined).map((block) => block.code);
    expect(code.join('\n')).not.toMatch(/from '[./]*src\//);
    expect(code.join('\n')).toContain("from '@bookkeeper/webhooks/sqlite'");
  });

  it('takes every snippet from an example that an integration test runs', () => {
    const testDir = join(root, 'test', 'integration');
    const tests = readdirSync(testDir)
      .filter((name) => name.endsWith('.test.ts'))
      .map((name) => readFileSync(join(testDir, name), 'utf8'))
      .join('\n');
    const files = [...new Set(blocks.flatMap((block) => (block.source === undefined ? [] : [block.source.file])))];
    const unrun = files.filter((file) => {
      const stem = file.replace(/^examples\//, '').replace(/\.ts$/, '');
      return !tests.includes(`${stem}.ts'`) && !tests.includes(`${stem}.js'`);
    });
    expect(unrun, 'examples shown in the README that no test under test/integration runs').toEqual([]);
  });

  it('is what `npm run docs` writes, and a second run changes nothing', () => {
    const updated = updateReadme(readme);
    expect(updated === readme, rerun).toBe(true);
    expect(updateReadme(updated)).toBe(updated);
  });
});

describe('README catalog reference', () => {
  it('holds exactly the reference generated from bookkeeperEvents', () => {
    const reference = renderCatalogReference();
    const start = readme.indexOf('<!-- catalog:start');
    const end = readme.indexOf('<!-- catalog:end -->');
    expect(start, 'the README has no catalog reference markers').toBeGreaterThan(-1);
    const section = readme.slice(readme.indexOf('\n', start) + 1, end - 1);
    expect(section === reference, rerun).toBe(true);
  });

  it('has a section for every event type, with its example as the catalog has it, which its schema accepts as it is', () => {
    expect(Object.keys(catalogDocs.types)).toEqual([...bookkeeperEvents.types]);
    for (const type of bookkeeperEvents.types) {
      const example = (bookkeeperEvents.examples as Record<string, unknown>)[type];
      expect(example, `${type} has no example`).toBeDefined();
      expect(readme.includes(`### \`${type}\``), `README.md has no section for ${type}: ${rerun}`).toBe(true);
      expect(readme.includes(['```json', readableJson(example), '```'].join('\n')), `README.md lacks the example of ${type}: ${rerun}`).toBe(true);
      expect(JSON.parse(readableJson(example)), `${type}: the JSON shown reads back as the example`).toEqual(example);
      // As it is: no default filled in, nothing stripped, so what the README shows is what is sent.
      expect(bookkeeperEvents.schemas[type].parse(example), type).toEqual(example);
    }
  });

  it('shows JSON on few lines and reads back as the same value', () => {
    const value = { amount: { amount: 1230, currency: 'EUR', exponent: 2 }, lines: [{ id: 'line_1', text: 'x'.repeat(120) }], empty: {}, none: [] };
    const shown = readableJson(value);
    expect(shown.split('\n')).toEqual([
      '{',
      '  "amount": { "amount": 1230, "currency": "EUR", "exponent": 2 },',
      '  "lines": [',
      '    {',
      '      "id": "line_1",',
      `      "text": "${'x'.repeat(120)}"`,
      '    }',
      '  ],',
      '  "empty": {},',
      '  "none": []',
      '}',
    ]);
    expect(JSON.parse(shown)).toEqual(value);
    expect(readableJson('a"b')).toBe('"a\\"b"');
  });

  it('lists every field with its type and whether it is required, nested fields by path, shapes as links', () => {
    const fields = catalogFields(bookkeeperEvents.schemas['payment.succeeded']);
    expect(fields.map((field) => field.path)).toEqual(['paymentId', 'customerId', 'invoiceId', 'amount', 'method', 'reference', 'occurredAt', 'metadata']);
    expect(fields.find((field) => field.path === 'invoiceId')).toEqual({ path: 'invoiceId', type: 'string, 1–255 chars or null', required: false });
    expect(fields.find((field) => field.path === 'amount')).toEqual({ path: 'amount', type: '[`Money`](#money-shape)', required: true });
    expect(fields.find((field) => field.path === 'method')?.type).toBe('one of `card`, `bank_transfer`, `direct_debit`, `wallet`, `cash`, `other`');
    const paid = catalogFields(bookkeeperEvents.schemas['invoice.paid']);
    expect(paid.map((field) => field.path)).toEqual([
      'invoice',
      'payment',
      'previousAttributes',
      'previousAttributes.status',
      'previousAttributes.amountPaid',
      'previousAttributes.amountDue',
      'previousAttributes.paidAt',
      'previousAttributes.overdue',
      'occurredAt',
      'metadata',
    ]);
    expect(paid.find((field) => field.path === 'previousAttributes.paidAt')).toEqual({ path: 'previousAttributes.paidAt', type: '`null`', required: true });
    expect(paid.find((field) => field.path === 'previousAttributes.overdue')).toEqual({ path: 'previousAttributes.overdue', type: '`true`', required: false });
    const reference = renderCatalogReference();
    expect(reference).toContain('| `occurredAt` | string, ISO 8601 date-time with offset | yes |');
    expect(reference).toContain('| `lines` | array of [`DocumentLine`](#documentline-shape), 1–500 items | yes |');
    expect(reference).toContain('| `issueDate` | string, ISO 8601 date (`YYYY-MM-DD`) | yes |');
    // Every shape a field links to has its heading, whose anchor is the link's.
    for (const [, anchor] of reference.matchAll(/\]\(#([a-z0-9_-]+-shape)\)/g)) {
      expect(reference, anchor).toContain(`\n#### \`${bookkeeperShapeName(reference, anchor!)}\` shape\n`);
    }
  });

  it('walks inline objects, nullable ones and arrays of objects, and links shapes wherever they are', () => {
    const line = z.strictObject({ sku: z.string(), price: moneySchema }).meta({ id: 'TestLine' });
    const events = defineEvents({
      'order.placed': z.strictObject({
        order: z.strictObject({ id: z.string(), lines: z.array(line), notes: z.array(z.strictObject({ text: z.string() })) }),
        source: z.strictObject({ kind: z.literal('web') }).nullable(),
      }),
    });
    expect(catalogFields(events.schemas['order.placed'])).toEqual([
      { path: 'order', type: 'object', required: true },
      { path: 'order.id', type: 'string', required: true },
      { path: 'order.lines', type: 'array of [`TestLine`](#testline-shape)', required: true },
      { path: 'order.notes', type: 'array of objects', required: true },
      { path: 'order.notes[].text', type: 'string', required: true },
      { path: 'source', type: 'object or null', required: true },
      { path: 'source.kind', type: '`web`', required: true },
    ]);
  });

  it('refuses to render a catalog whose types, groups, shapes, fields or examples have no docs, or docs of nothing', () => {
    const schema = z.strictObject({ invoiceId: z.string(), amount: moneySchema });
    const events = defineEvents({ 'invoice.paid': { schema, example: { invoiceId: 'inv_1', amount: { amount: 1, currency: 'EUR' } } } });
    const money = { summary: 'Money.', fields: { amount: 'minor units', currency: 'code', exponent: 'exponent' } };
    const docs: CatalogDocs = {
      groups: { invoice: { title: 'Invoices', intro: 'Invoices.' } },
      types: { 'invoice.paid': { summary: 'An invoice was paid.', fields: { invoiceId: 'the invoice', amount: 'how much' } } },
      shapes: { Money: money, CurrencyCode: { summary: 'A code.' } },
      shapesIntro: 'Shapes.',
    };
    expect(renderCatalogReference(events, docs)).toContain('#### `invoice.paid`');
    expect(() => renderCatalogReference(events, { ...docs, types: { 'invoice.paid': { ...docs.types['invoice.paid']!, fields: { invoiceId: 'x' } } } })).toThrow(/amount/);
    expect(() =>
      renderCatalogReference(events, { ...docs, types: { 'invoice.paid': { ...docs.types['invoice.paid']!, fields: { invoiceId: 'x', amount: 'y', payer: 'who' } } } }),
    ).toThrow(/payer/);
    expect(() => renderCatalogReference(events, { ...docs, types: {} })).toThrow(/invoice\.paid/);
    expect(() => renderCatalogReference(events, { ...docs, groups: {} })).toThrow(/groups without docs: invoice/);
    expect(() => renderCatalogReference(events, { ...docs, shapes: { Money: money } })).toThrow(/shapes without docs: CurrencyCode/);
    expect(() => renderCatalogReference(events, { ...docs, shapes: { ...docs.shapes, Money: { ...money, fields: { amount: 'x' } } } })).toThrow(/shape Money.*currency/);
    const withoutExample = defineEvents({ 'invoice.paid': schema });
    expect(() => renderCatalogReference(withoutExample, docs)).toThrow(/examples without docs: invoice\.paid/);
  });
});

describe('README currency table', () => {
  it('holds exactly the table generated from the shipped ISO 4217 list, every code once', () => {
    const table = renderCurrencyTable();
    const start = readme.indexOf('<!-- currencies:start');
    const end = readme.indexOf('<!-- currencies:end -->');
    expect(start, 'the README has no currency table markers').toBeGreaterThan(-1);
    expect(readme.slice(readme.indexOf('\n', start) + 1, end - 1) === table, rerun).toBe(true);
    const shown = [...table.matchAll(/`([A-Z]{3})`/g)].map((match) => match[1]);
    expect(shown.toSorted()).toEqual(currencyExponents.map(([code]) => code));
    expect(table).toContain('| 3 | 1000 minor units | `BHD` `IQD` `JOD` `KWD` `LYD` `OMR` `TND` |');
  });
});

describe('the snippet renderer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'readme-snippets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'examples', 'nested'), { recursive: true });
  writeFileSync(
    join(dir, 'examples', 'nested', 'sample.ts'),
    [
      '// header, not shown',
      '// #region part',
      "import { createWebhooks } from '../../src/index.js';",
      "import { verifyWebhook } from '../../src/receiver/index.js';",
      '// #endregion part',
      "import { hidden } from './hidden.js';",
      '',
      'export function start() {',
      '  // #region part',
      '  const webhooks = createWebhooks();',
      '  if (webhooks) {',
      '    verifyWebhook;',
      '  }',
      '  // #endregion part',
      '  hidden();',
      '}',
      '// #region internal',
      "import { signWebhook } from '../../src/signing/sign-webhook.js';",
      '// #endregion internal',
      '// #region open',
    ].join('\n'),
  );

  it('joins the parts of a region, dedented, with the package entry points in the imports', () => {
    expect(renderSnippet({ file: 'examples/nested/sample.ts', region: 'part' }, dir)).toBe(
      [
        "import { createWebhooks } from '@bookkeeper/webhooks';",
        "import { verifyWebhook } from '@bookkeeper/webhooks/receiver';",
        '',
        'const webhooks = createWebhooks();',
        'if (webhooks) {',
        '  verifyWebhook;',
        '}',
      ].join('\n'),
    );
  });

  it('refuses a snippet that imports a private module, a region never closed, and a region or file that does not exist', () => {
    expect(() => renderSnippet({ file: 'examples/nested/sample.ts', region: 'internal' }, dir)).toThrow(/not a public entry point/);
    expect(() => renderSnippet({ file: 'examples/nested/sample.ts', region: 'open' }, dir)).toThrow(/never closed/);
    expect(() => renderSnippet({ file: 'examples/nested/sample.ts', region: 'missing' }, dir)).toThrow(/no such region/);
    expect(() => renderSnippet({ file: 'examples/nested/gone.ts', region: undefined }, dir)).toThrow(/cannot read/);
  });

  it('refuses a marker with no code block on the line after it, which would show nothing', () => {
    const readme = ['# Title', '<!-- snippet: examples/nested/sample.ts#part -->', '', 'Text.', ''].join('\n');
    expect(() => updateReadme(readme, dir)).toThrow(/README\.md:2: <!-- snippet: examples\/nested\/sample\.ts#part --> has no code block on the line after it/);
  });

  it('rewrites a marked block from its source, an empty one too, and leaves unmarked blocks alone', () => {
    const before = [
      '# Title',
      '<!-- snippet: examples/nested/sample.ts#part -->',
      '```ts',
      '```',
      '',
      'Between.',
      '<!-- snippet: examples/nested/sample.ts#part -->',
      '```ts',
      'stale();',
      '```',
      '',
      '```sh',
      'npm test',
      '```',
      '<!-- catalog:start: generated by `npm run docs` from bookkeeperEvents; edit scripts/catalog-docs.ts, not this -->',
      'stale catalog',
      '<!-- catalog:end -->',
      '<!-- currencies:start: generated by `npm run docs` from src/events/money/currency-exponent.ts -->',
      'stale currencies',
      '<!-- currencies:end -->',
      '',
    ].join('\n');
    const after = updateReadme(before, dir);
    const part = renderSnippet({ file: 'examples/nested/sample.ts', region: 'part' }, dir);
    expect(after).toContain(`# Title\n<!-- snippet: examples/nested/sample.ts#part -->\n\`\`\`ts\n${part}\n\`\`\`\n\nBetween.\n`);
    expect(after).toContain(`\`\`\`ts\n${part}\n\`\`\`\n\n\`\`\`sh\nnpm test\n\`\`\``);
    expect(after).toContain(`not this -->\n${renderCatalogReference()}\n<!-- catalog:end -->\n`);
    expect(after).toContain(`currency-exponent.ts -->\n${renderCurrencyTable()}\n<!-- currencies:end -->\n`);
    expect(after).not.toContain('stale');
    expect(updateReadme(after, dir)).toBe(after);
  });
});
