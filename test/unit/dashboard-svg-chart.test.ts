import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chartTable, lineChart, type ChartSeries, type LineChartOptions } from '../../src/dashboard/svg-chart.js';
import { ValidationError } from '../../src/errors.js';
import { propertyRuns } from '../support/property-runs.js';
import { thrownBy } from '../support/rejections.js';

const minuteMs = 60_000;
const start = Date.UTC(2026, 11, 4, 13, 38);

/** A series with one point a minute from `start`. */
const perMinute = (label: string, ys: ReadonlyArray<number | null>): ChartSeries => ({ label, points: ys.map((y, index) => ({ x: start + index * minuteMs, y })) });

const chart = (overrides: Partial<LineChartOptions> = {}): string =>
  lineChart({
    id: 'latency',
    title: 'Delivery latency',
    series: [perMinute('p50', [10, 20, 40, 20])],
    xFormat: (x) => `t${x}`,
    yFormat: (y) => `${y} ms`,
    yLabel: 'Latency',
    ...overrides,
  }).value;

/** The text of every element with `class`, in order. */
const textsOf = (svg: string, className: string): string[] => [...svg.matchAll(new RegExp(`<text class="${className}"[^>]*>([^<]*)</text>`, 'g'))].map((match) => match[1]!);
const yTicks = (svg: string): string[] => [...svg.matchAll(/<text class="chart-tick"[^>]*text-anchor="end">([^<]*)<\/text>/g)].map((match) => match[1]!);
const xTicks = (svg: string): string[] => [...svg.matchAll(/<text class="chart-tick"[^>]*text-anchor="middle">([^<]*)<\/text>/g)].map((match) => match[1]!);

/** WCAG 2 contrast ratio of a `#rrggbb` colour against white. */
function contrastOnWhite(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((offset) => {
    const channel = Number.parseInt(hex.slice(offset, offset + 2), 16) / 255;
    return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
  });
  return 1.05 / (0.2126 * r! + 0.7152 * g! + 0.0722 * b! + 0.05);
}

describe('lineChart', () => {
  it('is an image named by its <title> and described by its <desc>, with ids from the id option', () => {
    const svg = chart();
    expect(svg).toMatch(/^<svg [^>]*role="img"[^>]*aria-labelledby="latency-title" aria-describedby="latency-desc"/);
    expect(svg).toContain('<title id="latency-title">Delivery latency</title>');
    expect(svg).toContain(`<desc id="latency-desc">t${start} to t${start + 3 * minuteMs}: p50: 10 ms to 40 ms, latest 20 ms.</desc>`);
    expect(svg).toMatch(/<svg [^>]*id="latency"/);
    const other = chart({ id: 'retries' });
    expect(other).toContain('aria-labelledby="retries-title"');
    expect(other).not.toContain('latency-');
  });

  it('gives the same markup for the same input', () => {
    expect(chart()).toBe(chart());
  });

  it('escapes every text: title, labels, formatted ticks and the empty text', () => {
    const evil = '<script>alert(1)</script>';
    const texts = [
      chart({ title: evil, yLabel: evil, series: [perMinute(evil, [1, 2])], xFormat: () => evil, yFormat: () => evil }),
      chart({ series: [perMinute('p50', [null])], emptyText: evil }),
      chartTable({ title: evil, xLabel: evil, series: [perMinute(evil, [1, null]), perMinute('p95', [null, 2])], xFormat: () => evil, yFormat: () => evil }).value,
      chartTable({ title: 't', xLabel: 'x', series: [], xFormat: String, yFormat: String, emptyText: evil }).value,
    ];
    for (const markup of texts) {
      expect(markup).not.toContain('<script');
      expect(markup).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    }
    expect(chart({ series: [perMinute('"><b a="', [1, 2])] })).not.toContain('"><b a="');
  });

  it('uses no style attribute or <style> element (the CSP allows neither)', () => {
    const svg = chart({ series: [perMinute('p50', [1, 2, null, 3]), perMinute('p95', [2, null, 4, 5]), perMinute('p99', [3, 4, 5, 6])] });
    expect(svg).not.toMatch(/\sstyle=|<style/i);
    expect(chart({ series: [] })).not.toMatch(/\sstyle=|<style/i);
  });

  it('breaks a line where y is null, and draws a value alone between gaps as a dot', () => {
    const svg = chart({ series: [perMinute('p50', [1, 2, null, 3, 4, null, 5, null, null])] });
    expect(svg.match(/<polyline class="chart-series chart-series-1"/g)).toHaveLength(2);
    expect(svg.match(/<circle class="chart-series chart-series-1"/g)).toHaveLength(1);
  });

  it('draws each series with its own class, colour and dash pattern, and lists it in the legend', () => {
    const series = ['p50', 'p95', 'p99', 'max', 'mean'].map((label, index) => perMinute(label, [index + 1, index + 2]));
    const svg = chart({ series });
    const legend = svg.match(/<g class="chart-legend">(.*?)<\/g>/)![1]!;
    const swatches = [...legend.matchAll(/<line class="chart-series chart-series-(\d)" stroke="(#[0-9a-f]{6})"( stroke-dasharray="[^"]+")?/g)];
    expect(swatches.map((match) => match[1])).toEqual(['1', '2', '3', '4', '5']);
    expect(new Set(swatches.map((match) => match[2])).size).toBe(5);
    expect(new Set(swatches.slice(0, 4).map((match) => match[3] ?? 'solid')).size).toBe(4);
    expect([...legend.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((match) => match[1])).toEqual(['p50', 'p95', 'p99', 'max', 'mean']);
    for (const [index, swatch] of swatches.entries()) expect(svg).toContain(`<polyline class="chart-series chart-series-${index + 1}" stroke="${swatch[2]}"`);
  });

  it('uses colours of at least 4.5:1 against white for the series and every text', () => {
    const svg = chart({ series: ['a', 'b', 'c', 'd', 'e'].map((label) => perMinute(label, [1, 2])) });
    const colours = new Set([...svg.matchAll(/<(?:polyline|text|g)[^>]*?(?:stroke|fill)="(#[0-9a-f]{6})"/g)].map((match) => match[1]!));
    const textColours = [...svg.matchAll(/<(?:text|g)[^>]*fill="(#[0-9a-f]{6})"/g)].map((match) => match[1]!);
    expect(colours.size).toBeGreaterThanOrEqual(6);
    for (const colour of [...svg.matchAll(/class="chart-series[^"]*" stroke="(#[0-9a-f]{6})"/g)].map((match) => match[1]!)) expect(contrastOnWhite(colour)).toBeGreaterThanOrEqual(4.5);
    expect(textColours.length).toBeGreaterThanOrEqual(3);
    for (const colour of textColours) expect(contrastOnWhite(colour)).toBeGreaterThanOrEqual(4.5);
  });

  it('puts y ticks on round values from 0, reading 0.6 as 0.6', () => {
    expect(yTicks(chart({ series: [perMinute('p50', [12, 340, 80])] }))).toEqual(['0 ms', '100 ms', '200 ms', '300 ms', '400 ms']);
    expect(yTicks(chart({ series: [perMinute('p50', [0.1, 0.55])] }))).toEqual(['0 ms', '0.2 ms', '0.4 ms', '0.6 ms']);
    expect(yTicks(chart({ series: [perMinute('p50', [700, 940])] }))).toEqual(['0 ms', '200 ms', '400 ms', '600 ms', '800 ms', '1000 ms']);
    expect(yTicks(chart({ series: [perMinute('p50', [0, 0])] }))).toEqual(['0 ms', '0.2 ms', '0.4 ms', '0.6 ms', '0.8 ms', '1 ms']);
    expect(yTicks(chart({ series: [perMinute('p50', [-30, 45])] }))).toEqual(['-40 ms', '-20 ms', '0 ms', '20 ms', '40 ms', '60 ms']);
  });

  it('puts x ticks on round times: every 10 minutes over an hour, every day over a week', () => {
    const hour = xTicks(chart({ series: [perMinute('p50', Array.from({ length: 60 }, () => 5))] })).map((label) => Number(label.slice(1)));
    expect(hour).toEqual([10, 20, 30, 40, 50, 60].map((minutes) => Date.UTC(2026, 11, 4, 13, 30) + minutes * minuteMs));
    const weekStart = Date.UTC(2026, 10, 27, 16);
    const week = xTicks(chart({ series: [{ label: 'p50', points: Array.from({ length: 84 }, (_, index) => ({ x: weekStart + index * 120 * minuteMs, y: 5 })) }] }));
    expect(week.map((label) => Number(label.slice(1)))).toEqual(Array.from({ length: 7 }, (_, index) => Date.UTC(2026, 10, 28 + index)));
    const year = xTicks(chart({ series: [{ label: 'p50', points: [{ x: Date.UTC(2026, 0, 1), y: 1 }, { x: Date.UTC(2027, 0, 1), y: 2 }] }] }));
    expect(year.length).toBeGreaterThan(1);
    expect(year.length).toBeLessThanOrEqual(7);
    for (const x of year.map((label) => Number(label.slice(1)))) {
      expect(x % (24 * 60 * minuteMs)).toBe(0);
      expect(x).toBeGreaterThanOrEqual(Date.UTC(2026, 0, 1));
      expect(x).toBeLessThanOrEqual(Date.UTC(2027, 0, 1));
    }
  });

  it('labels the one x of a chart whose points share it, round or not', () => {
    expect(xTicks(chart({ series: [{ label: 'a', points: [{ x: start + 123, y: 5 }] }] }))).toEqual([`t${start + 123}`]);
  });

  it('shows the empty text, no line and no legend when no series has a value', () => {
    for (const series of [[], [perMinute('p50', [])], [perMinute('p50', [null, null]), perMinute('p95', [null])]]) {
      const svg = chart({ series });
      expect(textsOf(svg, 'chart-empty')).toEqual(['No deliveries in this window']);
      expect(svg).not.toMatch(/<polyline|<circle|chart-legend/);
      expect(svg).toContain('No deliveries in this window</desc>');
      expect(svg).not.toMatch(/NaN|Infinity/);
    }
    expect(textsOf(chart({ series: [], emptyText: 'Nothing yet' }), 'chart-empty')).toEqual(['Nothing yet']);
  });

  it('draws a single point, equal values and a range narrower than any power of ten without NaN', () => {
    for (const series of [
      [{ label: 'a', points: [{ x: start, y: 5 }] }],
      [perMinute('a', [7, 7, 7])],
      [perMinute('a', [0, Number.MIN_VALUE])],
      [{ label: 'a', points: [{ x: -Number.MAX_SAFE_INTEGER, y: -Number.MAX_SAFE_INTEGER }, { x: Number.MAX_SAFE_INTEGER, y: Number.MAX_SAFE_INTEGER }] }],
    ]) {
      expect(chart({ series })).not.toMatch(/NaN|Infinity/);
    }
  });

  it('draws a series longer than a call may have arguments', () => {
    const svg = chart({ series: [{ label: 'p50', points: Array.from({ length: 200_000 }, (_, index) => ({ x: start + index * 1000, y: index % 7 })) }] });
    expect(yTicks(svg)).toEqual(['0 ms', '2 ms', '4 ms', '6 ms']);
  });

  it('refuses options that do not fit, naming the field', () => {
    const base = { id: 'c', title: 't', yLabel: 'y', xFormat: String, yFormat: String, series: [] } as LineChartOptions;
    for (const [overrides, field] of [
      [{ id: '1chart' }, 'id'],
      [{ id: 'a b' }, 'id'],
      [{ id: 'a"b' }, 'id'],
      [{ heigth: 300 }, 'heigth'],
      [{ width: 100 }, 'width'],
      [{ xFormat: 'HH:mm' }, 'xFormat'],
      [{ series: [{ label: 'a', points: [{ x: 1, y: Number.NaN }] }] }, 'series.0.points.0.y'],
      [{ series: [{ label: 'a', points: [{ x: Number.POSITIVE_INFINITY, y: 1 }] }] }, 'series.0.points.0.x'],
      [{ series: [{ label: 'a', points: [{ x: 1, y: 2 ** 60 }] }] }, 'series.0.points.0.y'],
    ] as const) {
      const error = thrownBy(() => lineChart({ ...base, ...overrides } as LineChartOptions));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: 'INPUT_INVALID', field });
    }
  });

  it('puts no x tick outside the data when the x values are subnormal (min / step underflows to 0)', () => {
    // Found by the property below at its full run count (seed -205770258).
    const svg = chart({ series: [{ label: 'p50', points: [{ x: 5e-324, y: null }, { x: 1e-323, y: null }] }], width: 240, height: 120 });
    expect(xTicks(svg)).toEqual([]);
  });

  it('never writes NaN or Infinity, and keeps every line inside the plot, whatever the data', () => {
    const value = fc.oneof(fc.double({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, noNaN: true }), fc.integer({ min: -1000, max: 1000 }));
    const series = fc.array(fc.record({ label: fc.constantFrom('p50', 'p95', 'p99'), points: fc.array(fc.record({ x: value, y: fc.option(value, { nil: null }) }), { maxLength: 30 }) }), { maxLength: 4 });
    const size = fc.record({ width: fc.integer({ min: 240, max: 1200 }), height: fc.integer({ min: 120, max: 600 }) });
    fc.assert(
      fc.property(series, size, (data, { width, height }) => {
        const svg = chart({ series: data, width, height });
        expect(svg).not.toMatch(/NaN|Infinity/);
        const xs = [...svg.matchAll(/<(?:polyline|circle) [^>]*?(?:points="([^"]*)"|cx="([^"]*)" cy="([^"]*)")/g)].flatMap((match) =>
          match[1] === undefined ? [[Number(match[2]), Number(match[3])]] : match[1].split(' ').map((pair) => pair.split(',').map(Number)),
        );
        for (const [x, y] of xs) {
          expect(x).toBeGreaterThanOrEqual(56);
          expect(x).toBeLessThanOrEqual(width - 32);
          expect(y).toBeGreaterThanOrEqual(32);
          expect(y).toBeLessThanOrEqual(height - 28);
        }
        expect(yTicks(svg).length).toBeLessThanOrEqual(6);
        expect(xTicks(svg).length).toBeLessThanOrEqual(7);
        for (const [, x] of svg.matchAll(/<text class="chart-tick" x="([^"]*)"[^>]*text-anchor="middle"/g)) {
          expect(Number(x)).toBeGreaterThanOrEqual(56);
          expect(Number(x)).toBeLessThanOrEqual(width - 32);
        }
      }),
      { numRuns: propertyRuns(1000) },
    );
  });
});

describe('chartTable', () => {
  it('lists each x with a value as a row header and each series as a column, with a caption', () => {
    const table = chartTable({
      title: 'Delivery latency',
      xLabel: 'Time',
      series: [perMinute('p50', [10, null, 30]), perMinute('p99', [15, null, null])],
      xFormat: (x) => `+${(x - start) / minuteMs} min`,
      yFormat: (y) => `${y} ms`,
    }).value;
    expect(table).toBe(
      '<table class="chart-table"><caption>Delivery latency</caption>' +
        '<thead><tr><th scope="col">Time</th><th scope="col">p50</th><th scope="col">p99</th></tr></thead>' +
        '<tbody><tr><th scope="row">+0 min</th><td>10 ms</td><td>15 ms</td></tr><tr><th scope="row">+2 min</th><td>30 ms</td><td>—</td></tr></tbody></table>',
    );
  });

  it('has one row with the empty text when no series has a value', () => {
    const table = chartTable({ title: 't', xLabel: 'Time', series: [perMinute('p50', [null])], xFormat: String, yFormat: String }).value;
    expect(table).toContain('<tbody><tr><td colspan="2">No deliveries in this window</td></tr></tbody>');
  });

  it('refuses options that do not fit', () => {
    const error = thrownBy(() => chartTable({ title: 't', xLabel: 'x', series: [], xFormat: String, yFormat: String, width: 300 } as never));
    expect(error).toMatchObject({ code: 'INPUT_INVALID', field: 'width' });
  });
});
