/**
 * The backlog section of `latest.md` as one table: a row per storage and log size, a column
 * per figure of that size (bench/suites/backlog.ts names them `backlog.<storage>.<size>.<kind>`).
 * The growth figures, which carry the targets, stay in the usual table below it.
 */
import { formatNumber, type Figure } from './report.js';

const columns: ReadonlyArray<{ kind: string; header: string }> = [
  { kind: 'fill', header: 'fill s' },
  { kind: 'rss', header: 'RSS growth MB' },
  { kind: 'claim', header: 'claim ms' },
  { kind: 'stats', header: 'stats ms' },
  { kind: 'list', header: 'list ms' },
  { kind: 'deep', header: 'deep page ms' },
  { kind: 'undelivered', header: 'undelivered ms' },
  { kind: 'purge', header: 'purge rows/s' },
];

const sizeFigure = /^backlog\.([^.]+)\.([^.]+)\.([a-z]+)$/;

/** The per-size figures as a markdown table, or `''` when there are none. */
export function backlogMatrix(figures: readonly Figure[]): string {
  const rows = new Map<string, { storage: string; size: string; cells: Map<string, Figure> }>();
  for (const figure of figures) {
    const match = sizeFigure.exec(figure.id);
    if (match === null) continue;
    const [, storage, size, kind] = match as unknown as [string, string, string, string];
    const key = `${storage} ${size}`;
    if (!rows.has(key)) rows.set(key, { storage, size, cells: new Map() });
    rows.get(key)!.cells.set(kind, figure);
  }
  if (rows.size === 0) return '';
  const cell = (figure: Figure | undefined): string => (figure === undefined ? '' : `${formatNumber(figure.value)}${figure.valid ? '' : ' (invalid)'}`);
  const stored = (figure: Figure | undefined): string => {
    const mb = figure?.detail.storedMB;
    return typeof mb === 'number' ? formatNumber(mb) : '';
  };
  const out = [
    `| storage | delivered | ${columns.map((c) => c.header).join(' | ')} | stored MB |`,
    `|---|---|${columns.map(() => '---').join('|')}|---|`,
  ];
  for (const row of rows.values()) {
    out.push(`| ${row.storage} | ${row.size} | ${columns.map((c) => cell(row.cells.get(c.kind))).join(' | ')} | ${stored(row.cells.get('fill'))} |`);
  }
  return out.join('\n');
}
