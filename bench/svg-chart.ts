/**
 * A small SVG writer for latency histograms: log-scaled x axis (ms), one step line
 * per series (share of samples per bucket), a dashed marker at each series' p99,
 * side-by-side panels. No chart dependency.
 */
import { quantileSorted } from './stats.js';

export interface HistogramSeries {
  label: string;
  samplesMs: readonly number[];
}

export interface HistogramPanel {
  title: string;
  series: readonly HistogramSeries[];
}

const palette = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];
const panelWidth = 480;
const panelHeight = 330;
const margin = { top: 30, right: 16, bottom: 46, left: 48 };
const legendRow = 15;
const bins = 48;

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function fixed(value: number): string {
  return Number.isFinite(value) ? value.toFixed(1) : '0';
}

function formatLatency(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toFixed(0)} µs`;
}

function formatMs(ms: number): string {
  if (ms >= 1000) return `${ms / 1000}s`;
  if (ms >= 1) return `${ms}ms`;
  return `${Math.round(ms * 1000)}µs`;
}

/** The nearest 1-2-5 value below (or above) a positive number. */
function snap(value: number, direction: 'down' | 'up'): number {
  const decade = 10 ** Math.floor(Math.log10(value));
  const steps = direction === 'down' ? [5, 2, 1] : [1, 2, 5, 10];
  for (const step of steps) {
    const candidate = decade * step;
    if (direction === 'down' ? candidate <= value : candidate >= value) return candidate;
  }
  return direction === 'down' ? decade : decade * 10;
}

/** 1-2-5 ticks between lo and hi. */
function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(lo)); decade <= hi; decade *= 10) {
    for (const step of [1, 2, 5]) {
      const value = Number((decade * step).toPrecision(3));
      if (value >= lo && value <= hi) out.push(value);
    }
  }
  return out;
}

/** The smallest of 5 %, 10 %, 20 %, 25 %, 50 %, 75 %, 100 % at or above a share. */
function niceTop(share: number): number {
  for (const step of [0.05, 0.1, 0.2, 0.25, 0.5, 0.75]) if (share <= step) return step;
  return 1;
}

function panelSvg(panel: HistogramPanel, offsetX: number): string {
  const all = panel.series.flatMap((s) => s.samplesMs.filter((v) => v > 0 && Number.isFinite(v)));
  const parts: string[] = [];
  const x0 = offsetX + margin.left;
  const y0 = margin.top;
  const width = panelWidth - margin.left - margin.right;
  const height = panelHeight - margin.top - margin.bottom;
  parts.push(`<text x="${offsetX + panelWidth / 2}" y="18" text-anchor="middle" font-weight="bold">${escapeXml(panel.title)}</text>`);
  parts.push(`<rect x="${x0}" y="${y0}" width="${width}" height="${height}" fill="none" stroke="#999"/>`);
  if (all.length === 0) {
    parts.push(`<text x="${x0 + width / 2}" y="${y0 + height / 2}" text-anchor="middle">no samples</text>`);
    return parts.join('\n');
  }
  let min = Math.min(...all);
  let max = Math.max(...all);
  // Snap the axis to 1-2-5 values around the data.
  min = snap(min, 'down');
  max = snap(max * 1.0001, 'up');
  const logMin = Math.log10(min);
  const logSpan = Math.log10(max) - logMin;
  const xOf = (ms: number): number => x0 + ((Math.log10(ms) - logMin) / logSpan) * width;

  const shares = panel.series.map((series) => {
    const counts = new Array<number>(bins).fill(0);
    let total = 0;
    for (const value of series.samplesMs) {
      if (!(value > 0) || !Number.isFinite(value)) continue;
      const bin = Math.min(bins - 1, Math.floor(((Math.log10(value) - logMin) / logSpan) * bins));
      counts[bin]! += 1;
      total += 1;
    }
    return counts.map((count) => (total === 0 ? 0 : count / total));
  });
  // Headroom above the tallest bar for the legend.
  const top = niceTop(Math.max(0.01, ...shares.flat()) / 0.7);
  const yOf = (share: number): number => y0 + height - (share / top) * height;

  for (const value of ticks(min, max)) {
    const x = xOf(value);
    parts.push(`<line x1="${fixed(x)}" y1="${y0 + height}" x2="${fixed(x)}" y2="${y0 + height + 4}" stroke="#666"/>`);
    parts.push(`<text x="${fixed(x)}" y="${y0 + height + 16}" text-anchor="middle" font-size="10">${formatMs(value)}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const share = (top * i) / 4;
    const y = yOf(share);
    parts.push(`<line x1="${x0 - 4}" y1="${fixed(y)}" x2="${x0}" y2="${fixed(y)}" stroke="#666"/>`);
    parts.push(`<text x="${x0 - 6}" y="${fixed(y + 3)}" text-anchor="end" font-size="10">${Number((share * 100).toFixed(1))}%</text>`);
  }
  parts.push(`<text x="${x0 + width / 2}" y="${panelHeight - 8}" text-anchor="middle" font-size="11">latency (log scale)</text>`);

  const legend: string[] = [];
  panel.series.forEach((series, index) => {
    const color = palette[index % palette.length]!;
    const binShares = shares[index]!;
    let path = `M${fixed(x0)},${fixed(yOf(0))}`;
    for (let bin = 0; bin < bins; bin++) {
      const left = x0 + (bin / bins) * width;
      const right = x0 + ((bin + 1) / bins) * width;
      const y = yOf(binShares[bin]!);
      path += ` L${fixed(left)},${fixed(y)} L${fixed(right)},${fixed(y)}`;
    }
    path += ` L${fixed(x0 + width)},${fixed(yOf(0))}`;
    parts.push(`<path d="${path}" fill="${color}" fill-opacity="0.12" stroke="${color}" stroke-width="1.5"/>`);
    const sorted = Float64Array.from(series.samplesMs.filter((v) => v > 0)).sort();
    if (sorted.length > 0) {
      const p99 = quantileSorted(sorted, 0.99);
      const x = xOf(p99);
      parts.push(`<line x1="${fixed(x)}" y1="${y0}" x2="${fixed(x)}" y2="${y0 + height}" stroke="${color}" stroke-dasharray="4 3"/>`);
    }
    const p50 = sorted.length > 0 ? quantileSorted(sorted, 0.5) : Number.NaN;
    const p99 = sorted.length > 0 ? quantileSorted(sorted, 0.99) : Number.NaN;
    legend.push(
      `<rect x="${x0 + 8}" y="${y0 + 8 + index * legendRow}" width="10" height="10" fill="${color}"/>` +
        `<text x="${x0 + 22}" y="${y0 + 17 + index * legendRow}" font-size="10">${escapeXml(series.label)}: p50 ${formatLatency(p50)}, p99 ${formatLatency(p99)}</text>`,
    );
  });
  const legendWidth = 230;
  parts.push(
    `<rect x="${x0 + 4}" y="${y0 + 4}" width="${legendWidth}" height="${(panel.series.length + 1) * legendRow + 6}" fill="#fff" fill-opacity="0.85" stroke="#ccc"/>`,
    ...legend,
    `<text x="${x0 + 10}" y="${y0 + 17 + panel.series.length * legendRow}" font-size="10" fill="#555">share of samples per bucket; dashed: p99</text>`,
  );
  return parts.join('\n');
}

/** An SVG document with one histogram panel per entry, side by side. */
export function latencyHistogramSvg(panels: readonly HistogramPanel[], caption: string): string {
  const count = Math.max(1, panels.length);
  const width = panelWidth * count;
  const height = panelHeight + 22;
  const body = panels.map((panel, index) => panelSvg(panel, index * panelWidth)).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    body,
    `<text x="8" y="${height - 6}" font-size="10" fill="#555">${escapeXml(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
