/**
 * What every suite gets: the options, the storages found, the receiver process, and
 * the collectors of figures, chart series and errors.
 */
import type { BenchOptions } from './config.js';
import { makeFigure, type Figure, type FigureInput, type Section } from './report.js';
import { ReceiverProcess } from './receiver.js';
import type { StorageEntry } from './storages.js';

/** One histogram series for latency.svg: latency samples in ms. */
export interface ChartSeries {
  label: string;
  samplesMs: number[];
}

export interface ChartPanel {
  title: string;
  series: ChartSeries[];
}

export class BenchContext {
  readonly figures: Figure[] = [];
  readonly charts: ChartPanel[] = [];
  readonly errors: Array<{ section: string; storage: string | null; message: string }> = [];
  private receiverProcess: ReceiverProcess | null = null;

  constructor(
    readonly options: BenchOptions,
    readonly storages: readonly StorageEntry[],
  ) {}

  get sizes(): BenchOptions['sizes'] {
    return this.options.sizes;
  }

  add(input: FigureInput): Figure {
    const figure = makeFigure(input);
    this.figures.push(figure);
    return figure;
  }

  chart(title: string, series: ChartSeries): void {
    let panel = this.charts.find((candidate) => candidate.title === title);
    if (panel === undefined) {
      panel = { title, series: [] };
      this.charts.push(panel);
    }
    panel.series.push(series);
  }

  /** Progress on stderr, so stdout carries only the table. */
  log(message: string): void {
    process.stderr.write(`[bench] ${message}\n`);
  }

  fail(section: Section, storage: string | null, error: unknown): void {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.errors.push({ section, storage, message });
    this.log(`ERROR in ${section}${storage ? ` (${storage})` : ''}: ${message}`);
  }

  /** The loopback receiver process, started on first use. */
  async receiver(): Promise<ReceiverProcess> {
    this.receiverProcess ??= await ReceiverProcess.start({ kind: this.options.receiver });
    return this.receiverProcess;
  }

  async close(): Promise<void> {
    await this.receiverProcess?.stop();
    this.receiverProcess = null;
  }
}
