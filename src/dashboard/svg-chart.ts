/**
 * A line chart as inline SVG, and the same data as a table for readers who cannot see it.
 *
 * The page's Content-Security-Policy has `style-src 'self'`: no `style` attribute and no
 * `<style>` element here. Every look is a presentation attribute (`stroke`, `fill`,
 * `font-size`, …) that a stylesheet rule overrides, on elements with these classes:
 *
 * - `chart` — the `<svg>`;
 * - `chart-grid` — the group of gridlines; `chart-axis` — the group of the two axis lines;
 * - `chart-tick` — each tick label; `chart-y-label` — the y axis's label, above it;
 * - `chart-legend` — the legend's group; `chart-series` and `chart-series-N` (N from 1, in
 *   the order of `series`) — each series' polylines and legend swatch (stroked), and its
 *   values alone between gaps (`<circle>`, filled);
 * - `chart-empty` — the text shown when no series has a value;
 * - `chart-table` — the `<table>` of {@link chartTable}.
 *
 * Series colours pass WCAG AA for text (≥ 4.5:1) on white, come from the Okabe–Ito set
 * (told apart with the common colour-vision deficiencies), and each series has its own dash
 * pattern too, so none is known by colour alone.
 */
import { z } from 'zod';
import { html, type Html } from './html.js';
import { throwValidation } from '../throw-validation.js';

/** A point of a series; `y: null` leaves a gap in the line. */
export interface ChartPoint {
  x: number;
  y: number | null;
}

/** A named line of the chart. */
export interface ChartSeries {
  label: string;
  points: readonly ChartPoint[];
}

/** Options of {@link lineChart}. */
export interface LineChartOptions {
  /** Unique on the page: the `<svg>`'s id, and the prefix of its `<title>`'s and `<desc>`'s. */
  id: string;
  /** The chart's accessible name (`<title>`). */
  title: string;
  /** The lines; `x` is epoch ms (ticks fall on round times), in any order. */
  series: readonly ChartSeries[];
  /** A time as a tick label, e.g. `14:30`. */
  xFormat: (x: number) => string;
  /** A value as a tick label, e.g. `120 ms`. */
  yFormat: (y: number) => string;
  /** What y measures, written above the y axis. */
  yLabel: string;
  /** @defaultValue 640 */
  width?: number;
  /** @defaultValue 240 */
  height?: number;
  /** Shown instead of lines when no series has a value. @defaultValue `"No deliveries in this window"` */
  emptyText?: string;
}

/** Options of {@link chartTable}. */
export interface ChartTableOptions {
  /** The table's `<caption>`. */
  title: string;
  /** The heading of the x column, e.g. `Time`. */
  xLabel: string;
  series: readonly ChartSeries[];
  xFormat: (x: number) => string;
  yFormat: (y: number) => string;
  /** The one row when no series has a value. @defaultValue `"No deliveries in this window"` */
  emptyText?: string;
}

// Safe integers' range: wide enough for epoch ms and any latency, and narrow enough that
// no difference of two values overflows to Infinity.
const valueSchema = z.number().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const formatSchema = z.custom<(value: number) => string>((value) => typeof value === 'function', { message: 'a function (value: number) => string' });
const seriesSchema = z.array(
  z.strictObject({
    label: z.string(),
    points: z.array(z.strictObject({ x: valueSchema, y: valueSchema.nullable() })),
  }),
);
const emptyTextSchema = z.string().min(1).default('No deliveries in this window');

const lineChartSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z][\w-]*$/)
    .describe('an id: a letter, then letters, digits, `_` or `-`'),
  title: z.string(),
  series: seriesSchema,
  xFormat: formatSchema,
  yFormat: formatSchema,
  yLabel: z.string(),
  width: z.number().int().min(240).max(4000).default(640),
  height: z.number().int().min(120).max(2000).default(240),
  emptyText: emptyTextSchema,
});

const chartTableSchema = z.strictObject({
  title: z.string(),
  xLabel: z.string(),
  series: seriesSchema,
  xFormat: formatSchema,
  yFormat: formatSchema,
  emptyText: emptyTextSchema,
});

const palette = ['#0072b2', '#b84a00', '#a2487f', '#00795a', '#5e5e5e'];
const dashes = [null, '6 3', '2 3', '10 3 2 3'];
const textColour = '#1f2937';
const tickColour = '#4b5563';
const gridColour = '#e5e7eb';
const axisColour = '#6b7280';
const fontSize = 12;
const margin = { top: 32, right: 32, bottom: 28, left: 56 };
const maxYIntervals = 5;
const maxXTicks = 7;

const secondMs = 1000;
const minuteMs = 60 * secondMs;
const hourMs = 60 * minuteMs;
const dayMs = 24 * hourMs;
const timeStepsMs = [
  ...[1, 2, 5, 10, 15, 30].map((n) => n * secondMs),
  ...[1, 2, 5, 10, 15, 30].map((n) => n * minuteMs),
  ...[1, 2, 3, 6, 12].map((n) => n * hourMs),
  ...[1, 2, 7].map((n) => n * dayMs),
];

/** The least and the greatest value, by a loop: `Math.min(...values)` overflows the stack on a long series. */
function extent(values: readonly number[]): [min: number, max: number] {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const value of values) {
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return [min, max];
}

/** A coordinate to one decimal: enough for a screen, short in the markup. */
const px = (value: number): number => Math.round(value * 10) / 10;

/**
 * A line chart as an inline `<svg role="img">` named by its `<title>` and described by a
 * one-line `<desc>` (each series' range and latest value). y runs from 0 (or the lowest
 * value, if below 0) to a round value, with round ticks; x ticks fall on round times. A
 * `null` y breaks the line; a value alone between gaps is drawn as a dot. With no value in
 * any series, `emptyText` stands where the lines would be. The same input gives the same
 * markup; every text is escaped.
 *
 * @throws ValidationError `INPUT_INVALID` for options that do not fit {@link LineChartOptions}
 *   (an unknown key, an id that is not a letter then letters, digits, `_` or `-`, a value
 *   that is not a finite number within ±`Number.MAX_SAFE_INTEGER`).
 */
export function lineChart(options: LineChartOptions): Html {
  const parsed = lineChartSchema.safeParse(options);
  if (!parsed.success) throwValidation('INPUT_INVALID', parsed.error, options, lineChartSchema);
  const { id, title, xFormat, yFormat, yLabel, width, height, emptyText } = parsed.data;
  const series = parsed.data.series.map(({ label, points }) => ({ label, points: [...points].sort((a, b) => a.x - b.x) }));

  const left = margin.left;
  const right = width - margin.right;
  const top = margin.top;
  const bottom = height - margin.bottom;
  const xs = series.flatMap(({ points }) => points.map((point) => point.x));
  const ys = series.flatMap(({ points }) => points.flatMap((point) => (point.y === null ? [] : [point.y])));
  const [xMin, xMax] = extent(xs);
  const xAt = (x: number): number => px(xMax === xMin ? (left + right) / 2 : left + ((x - xMin) / (xMax - xMin)) * (right - left));
  const xTickValues = xs.length === 0 ? [] : timeTicks(xMin, xMax);
  const yScale = ys.length === 0 ? { lo: 0, hi: 1, ticks: [] } : niceScale(...extent([0, ...ys]));
  const yAt = (y: number): number => px(bottom - ((y - yScale.lo) / (yScale.hi - yScale.lo)) * (bottom - top));

  const grid = [
    ...yScale.ticks.map((y) => html`<line x1="${left}" y1="${yAt(y)}" x2="${right}" y2="${yAt(y)}"/>`),
    ...xTickValues.map((x) => html`<line x1="${xAt(x)}" y1="${top}" x2="${xAt(x)}" y2="${bottom}"/>`),
  ];
  const tickLabels = [
    ...yScale.ticks.map((y) => html`<text class="chart-tick" x="${left - 6}" y="${yAt(y) + 4}" text-anchor="end">${yFormat(y)}</text>`),
    ...xTickValues.map((x) => html`<text class="chart-tick" x="${xAt(x)}" y="${bottom + 18}" text-anchor="middle">${xFormat(x)}</text>`),
  ];
  const plot =
    ys.length === 0
      ? html`<text class="chart-empty" x="${px((left + right) / 2)}" y="${px((top + bottom) / 2)}" text-anchor="middle" fill="${tickColour}">${emptyText}</text>`
      : html`${legend(series, right)}${lines(series, (point) => [xAt(point.x), yAt(point.y)])}`;

  return html`<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="${id}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${id}-title" aria-describedby="${id}-desc" font-family="system-ui, sans-serif" font-size="${fontSize}"><title id="${id}-title">${title}</title><desc id="${id}-desc">${summarize(series, xFormat, yFormat, emptyText)}</desc><g class="chart-grid" stroke="${gridColour}">${grid}</g><g class="chart-axis" stroke="${axisColour}"><line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}"/><line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}"/></g><g fill="${tickColour}">${tickLabels}</g><text class="chart-y-label" x="${left}" y="${top - 14}" fill="${textColour}">${yLabel}</text>${plot}</svg>`;
}

/**
 * The data of a chart as a `<table class="chart-table">`: a `<caption>`, one row per x
 * where some series has a value (a `<th scope="row">`), one column per series (`<th
 * scope="col">`), `—` where a series has none. The SVG is one image to a screen reader;
 * this is where its values can be read one by one.
 *
 * @throws ValidationError `INPUT_INVALID` for options that do not fit {@link ChartTableOptions}.
 */
export function chartTable(options: ChartTableOptions): Html {
  const parsed = chartTableSchema.safeParse(options);
  if (!parsed.success) throwValidation('INPUT_INVALID', parsed.error, options, chartTableSchema);
  const { title, xLabel, series, xFormat, yFormat, emptyText } = parsed.data;
  const columns = series.map(({ points }) => new Map(points.flatMap((point) => (point.y === null ? [] : [[point.x, point.y] as const]))));
  const rowXs = [...new Set(columns.flatMap((column) => [...column.keys()]))].sort((a, b) => a - b);
  const rows =
    rowXs.length === 0
      ? html`<tr><td colspan="${series.length + 1}">${emptyText}</td></tr>`
      : rowXs.map(
          (x) => html`<tr><th scope="row">${xFormat(x)}</th>${columns.map((column) => {
            const y = column.get(x);
            return html`<td>${y === undefined ? '—' : yFormat(y)}</td>`;
          })}</tr>`,
        );
  return html`<table class="chart-table"><caption>${title}</caption><thead><tr><th scope="col">${xLabel}</th>${series.map(({ label }) => html`<th scope="col">${label}</th>`)}</tr></thead><tbody>${rows}</tbody></table>`;
}

const seriesClass = (index: number): string => `chart-series chart-series-${index + 1}`;
const colourOf = (index: number): string => palette[index % palette.length]!;

/** A series' line: its classes, colour and dash pattern. */
function lineAttributes(index: number): Html {
  const dash = dashes[index % dashes.length];
  return html`class="${seriesClass(index)}" stroke="${colourOf(index)}"${dash === null ? '' : html` stroke-dasharray="${dash}"`}`;
}

/** The legend in the top margin, ending at `right`; label widths are estimated (no text metrics on the server). */
function legend(series: readonly ChartSeries[], right: number): Html {
  const swatchWidth = 18;
  const widths = series.map(({ label }) => swatchWidth + 6 + label.length * fontSize * 0.6 + 16);
  let x = right - widths.reduce((sum, itemWidth) => sum + itemWidth, 0) + 16;
  const y = margin.top - 18;
  const items = series.map(({ label }, index) => {
    const item = html`<line ${lineAttributes(index)} x1="${px(x)}" y1="${y}" x2="${px(x + swatchWidth)}" y2="${y}" stroke-width="2"/><text x="${px(x + swatchWidth + 6)}" y="${y + 4}" fill="${textColour}">${label}</text>`;
    x += widths[index]!;
    return item;
  });
  return html`<g class="chart-legend">${items}</g>`;
}

/** Each series as polylines broken at its gaps, and a dot for a value alone between two. */
function lines(series: readonly ChartSeries[], position: (point: { x: number; y: number }) => [x: number, y: number]): Html {
  const marks = series.map(({ points }, index) =>
    runs(points).map((run) => {
      if (run.length > 1) return html`<polyline ${lineAttributes(index)} points="${run.map((point) => position(point).join(',')).join(' ')}"/>`;
      const [cx, cy] = position(run[0]!);
      return html`<circle class="${seriesClass(index)}" cx="${cx}" cy="${cy}" r="3" fill="${colourOf(index)}"/>`;
    }),
  );
  return html`<g fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">${marks}</g>`;
}

/** The runs of consecutive points with a value: one polyline (or dot) each. */
function runs(points: readonly ChartPoint[]): Array<Array<{ x: number; y: number }>> {
  const out: Array<Array<{ x: number; y: number }>> = [];
  let current: Array<{ x: number; y: number }> = [];
  for (const { x, y } of points) {
    if (y === null) {
      if (current.length > 0) out.push(current);
      current = [];
    } else current.push({ x, y });
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** The `<desc>`: the x span, then each series' range and latest value. */
function summarize(series: readonly ChartSeries[], xFormat: (x: number) => string, yFormat: (y: number) => string, emptyText: string): string {
  const xs = series.flatMap(({ points }) => points.map((point) => point.x));
  if (xs.length === 0) return emptyText;
  const [xMin, xMax] = extent(xs);
  const span = `${xFormat(xMin)} to ${xFormat(xMax)}`;
  if (!series.some(({ points }) => points.some((point) => point.y !== null))) return `${span}: ${emptyText}`;
  const parts = series.map(({ label, points }) => {
    const values = points.flatMap((point) => (point.y === null ? [] : [point.y]));
    if (values.length === 0) return `${label}: no data`;
    const [min, max] = extent(values);
    return `${label}: ${yFormat(min)} to ${yFormat(max)}, latest ${yFormat(values.at(-1)!)}`;
  });
  return `${span}: ${parts.join('; ')}.`;
}

/**
 * A range widened to round ends, with ticks every 1, 2 or 5 × 10^k and at most
 * {@link maxYIntervals} intervals. A tick is computed as `n · m / 10^k` for k < 0 so that
 * 0.6 reads 0.6, not 0.6000000000000001. A range too narrow for its power of ten to be a
 * float (below ~1e-300) keeps its ends as its only ticks.
 */
function niceScale(min: number, max: number): { lo: number; hi: number; ticks: number[] } {
  const hi = max > min ? max : min + 1;
  const exponent = Math.floor(Math.log10((hi - min) / maxYIntervals));
  const power = 10 ** Math.abs(exponent);
  const value = (count: number): number => (exponent < 0 ? count / power : count * power);
  // Up to 50 so that one always fits: 50 · 10^k ≥ 5 × (the raw step).
  for (const mantissa of [1, 2, 5, 10, 20, 50]) {
    const first = Math.floor(min / value(mantissa));
    const last = Math.ceil(hi / value(mantissa));
    if (last - first <= maxYIntervals) {
      const ticks = Array.from({ length: last - first + 1 }, (_, index) => value((first + index) * mantissa));
      return { lo: ticks[0]!, hi: ticks.at(-1)!, ticks };
    }
  }
  // Only a range below ~1e-300 comes here: its power of ten is 0 or Infinity, so no count fits.
  return { lo: min, hi, ticks: [min, hi] };
}

/** At most {@link maxXTicks} ticks at multiples of a round duration (epoch-aligned, so UTC). */
function timeTicks(min: number, max: number): number[] {
  if (min === max) return [min];
  for (const step of timeStepsMs) {
    const first = Math.ceil(min / step);
    const last = Math.floor(max / step);
    // Kept within [min, max]: for subnormal x values `min / step` underflows to 0, and tick 0 would fall left of the plot.
    if (last - first + 1 <= maxXTicks) {
      return Array.from({ length: Math.max(0, last - first + 1) }, (_, index) => (first + index) * step).filter((x) => x >= min && x <= max);
    }
  }
  // Longer than seven weeks: round numbers of days.
  const days = niceScale(min / dayMs, max / dayMs).ticks.map((day) => day * dayMs);
  return days.filter((x) => x >= min && x <= max);
}
