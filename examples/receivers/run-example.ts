// Runs a receiver example as a program: `WEBHOOK_SECRET=whsec_… PORT=3000 npx tsx examples/receivers/<name>.ts`.
import { fileURLToPath } from 'node:url';
import { createLedger, type Ledger } from './ledger.js';

/** What every example's `start` takes. */
export interface ExampleOptions {
  /** The subscription's `whsec_…` secret. */
  secret: string;
  /** 0 for any free port. */
  port: number;
  /** Where payments are booked. */
  ledger?: Ledger;
}

/** What every example's `start` returns. */
export interface RunningExample {
  /** The webhook endpoint, e.g. `http://127.0.0.1:3000/webhooks`. */
  url: string;
  ledger: Ledger;
  close(): Promise<void>;
}

/** Starts the example when its file is the program being run (not when a test imports it). */
export function runIfMain(moduleUrl: string, start: (options: ExampleOptions) => Promise<RunningExample>): void {
  if (process.argv[1] === undefined || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  const secret = process.env.WEBHOOK_SECRET;
  if (secret === undefined) {
    console.error('Set WEBHOOK_SECRET to the subscription secret (whsec_…)');
    process.exit(1);
  }
  const ledger = createLedger();
  start({ secret, port: Number(process.env.PORT ?? 3000), ledger }).then(
    (running) => console.log(`receiving webhooks at ${running.url}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
