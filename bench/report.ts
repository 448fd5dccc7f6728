/**
 * Figures and their report: the table on stdout, `latest.json`, `latest.md`.
 *
 * A figure is one thing we measured, paired with what it is judged against in the
 * same run: the limit (the bare mechanism, what this machine can do at best) and/or
 * the peer (what a user would pick instead). Ratios are ours ÷ theirs, computed from
 * rounds taken side by side, because absolute numbers drift on a shared machine.
 */
import { cpus } from 'node:os';

export type Section = 'signing' | 'dispatch' | 'publish' | 'tenants' | 'end-to-end' | 'backlog' | 'retention' | 'host-impact' | 'ordering' | 'peers';

/** A goal: `ratio` (ours ÷ the baseline) or the figure's own `value` compared with a number. */
export interface Target {
  on: 'ratio' | 'value';
  op: '>=' | '<=' | '<';
  value: number;
}

export interface Baseline {
  /** `limit`: the bare mechanism; `peer`: the alternative a user would pick; `reference`: the same code under other conditions. */
  kind: 'limit' | 'peer' | 'reference';
  label: string;
  value: number;
  /** Ours ÷ this baseline (for `higher`-is-better figures, > 1 means we are faster). */
  ratio: number;
  target: Target | null;
  /** `null` when there is no target. */
  pass: boolean | null;
}

export interface Figure {
  /** Stable name, e.g. `verify`, `dispatch.memory`, `publish.memory.p99`. */
  id: string;
  section: Section;
  title: string;
  storage: string | null;
  unit: string;
  better: 'higher' | 'lower';
  /** Ours. */
  value: number;
  limit: Baseline | null;
  peer: Baseline | null;
  /** A goal on `value` itself (latency bounds). */
  target: Target | null;
  /** Every target met (`null`: no target; `false` also when the figure is invalid). */
  pass: boolean | null;
  /** False when the trial did not do what it claims (e.g. not every delivery arrived); never counts as a pass. */
  valid: boolean;
  note: string | null;
  detail: Record<string, unknown>;
}

export interface FigureInput {
  id: string;
  section: Section;
  title: string;
  storage?: string | null;
  unit: string;
  better: 'higher' | 'lower';
  value: number;
  limit?: { label: string; value: number; ratio?: number; target?: Target; kind?: Baseline['kind'] };
  peer?: { label: string; value: number; ratio?: number; target?: Target };
  target?: Target;
  valid?: boolean;
  note?: string;
  detail?: Record<string, unknown>;
}

export function meets(actual: number, target: Target): boolean {
  if (!Number.isFinite(actual)) return false;
  if (target.op === '>=') return actual >= target.value;
  if (target.op === '<=') return actual <= target.value;
  return actual < target.value;
}

function baseline(kind: Baseline['kind'], input: NonNullable<FigureInput['limit']>, value: number, valid: boolean): Baseline {
  const ratio = input.ratio ?? value / input.value;
  const target = input.target ?? null;
  return { kind, label: input.label, value: input.value, ratio, target, pass: target === null ? null : valid && meets(ratio, target) };
}

export function makeFigure(input: FigureInput): Figure {
  const valid = input.valid ?? true;
  const limit = input.limit ? baseline(input.limit.kind ?? 'limit', input.limit, input.value, valid) : null;
  const peer = input.peer ? baseline('peer', input.peer, input.value, valid) : null;
  const target = input.target ?? null;
  const checks: boolean[] = [];
  if (target !== null) checks.push(valid && meets(input.value, target));
  if (limit?.pass != null) checks.push(limit.pass);
  if (peer?.pass != null) checks.push(peer.pass);
  return {
    id: input.id,
    section: input.section,
    title: input.title,
    storage: input.storage ?? null,
    unit: input.unit,
    better: input.better,
    value: input.value,
    limit,
    peer,
    target,
    pass: checks.length === 0 ? (valid ? null : false) : checks.every(Boolean),
    valid,
    note: input.note ?? null,
    detail: input.detail ?? {},
  };
}

export interface RunInfo {
  mode: 'full' | 'quick' | 'tiny';
  date: string;
  node: string;
  platform: string;
  cpuCount: number;
  cpuModel: string;
  durationSeconds: number;
  receiver: string;
  storages: { available: string[]; skipped: Array<{ name: string; reason: string }> };
  sections: string[];
  /** Sections that threw: their figures are missing. */
  errors: Array<{ section: string; storage: string | null; message: string }>;
}

export function runInfo(partial: Omit<RunInfo, 'date' | 'node' | 'platform' | 'cpuCount' | 'cpuModel'>): RunInfo {
  const list = cpus();
  return {
    ...partial,
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpuCount: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
  };
}

// ---------- formatting ----------

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

export function formatValue(value: number, unit: string): string {
  return `${formatNumber(value)} ${unit}`;
}

function formatTarget(target: Target | null, unit: string): string {
  if (target === null) return '';
  const op = target.op === '>=' ? '≥' : target.op === '<=' ? '≤' : '<';
  return target.on === 'ratio' ? `${op} ${target.value}×` : `${op} ${formatNumber(target.value)} ${unit}`;
}

function formatRatio(b: Baseline | null): string {
  return b === null ? '' : `${b.ratio.toFixed(2)}×`;
}

/** `reported`: a valid figure without a target, shown for what it is rather than judged. */
function verdict(pass: boolean | null, valid: boolean): string {
  if (!valid) return 'INVALID';
  return pass === null ? 'reported' : pass ? 'pass' : 'MISS';
}

interface Row {
  figure: string;
  ours: string;
  limit: string;
  vsLimit: string;
  peer: string;
  vsPeer: string;
  target: string;
  result: string;
}

function targetsOf(figure: Figure): string {
  const parts: string[] = [];
  if (figure.target) parts.push(formatTarget(figure.target, figure.unit));
  if (figure.limit?.target) parts.push(`${formatTarget(figure.limit.target, '')} ${figure.limit.kind}`);
  if (figure.peer?.target) parts.push(`${formatTarget(figure.peer.target, '')} peer`);
  return parts.join(', ');
}

function rows(figures: readonly Figure[]): Row[] {
  return figures.map((figure) => ({
    figure: figure.id,
    ours: formatValue(figure.value, figure.unit),
    limit: figure.limit ? `${formatValue(figure.limit.value, figure.unit)} (${figure.limit.label})` : '',
    vsLimit: formatRatio(figure.limit),
    peer: figure.peer ? `${formatValue(figure.peer.value, figure.unit)} (${figure.peer.label})` : '',
    vsPeer: formatRatio(figure.peer),
    target: targetsOf(figure),
    result: verdict(figure.pass, figure.valid),
  }));
}

const headers: Row = {
  figure: 'figure',
  ours: 'ours',
  limit: 'limit / reference',
  vsLimit: '×',
  peer: 'peer',
  vsPeer: '×',
  target: 'target',
  result: 'result',
};
const columns = Object.keys(headers) as Array<keyof Row>;

/** The plain-text table printed on stdout. */
export function textTable(figures: readonly Figure[]): string {
  const all = [headers, ...rows(figures)];
  const widths = columns.map((column) => Math.max(...all.map((row) => row[column].length)));
  const line = (row: Row): string => columns.map((column, i) => row[column].padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** A markdown table of figures. */
export function markdownTable(figures: readonly Figure[]): string {
  const out = [`| ${columns.map((c) => headers[c]).join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const row of rows(figures)) out.push(`| ${columns.map((c) => escapeCell(row[c])).join(' | ')} |`);
  return out.join('\n');
}
