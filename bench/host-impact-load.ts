/**
 * The load client of the host-impact suite, in a process of its own: posts journal entries
 * to the host's ledger API at a fixed rate, open loop. Request i is due at start + i/rate
 * whether or not earlier ones have been answered, and its latency runs from that due time
 * (not from when it was sent), so a host that stalls is charged for every request that
 * waited, not only the one in flight (no coordinated omission).
 *
 * Commands over IPC: `{ type: 'start', url, rate }` (→ `started`), `{ type: 'stop' }` (stops
 * sending, waits up to 30 s for the answers, → {@link LoadSamples}), `exit`.
 */
import { Pool } from 'undici';
import { serveCommands } from './host-impact-child.js';

export type LoadCommand = { type: 'start'; url: string; rate: number } | { type: 'stop' } | { type: 'exit' };

/** Every request since `start`, by index; times are epoch ms on `performance.timeOrigin + performance.now()`. */
export interface LoadSamples {
  type: 'samples';
  dueAt: number[];
  /** When it was handed to the connection pool: how far the client itself fell behind. */
  sentAt: number[];
  /** When the answer had fully arrived, or failed; `null` if neither happened before `stop` gave up. */
  doneAt: Array<number | null>;
  /** HTTP status, or 0 for a failure without one (refused, reset, timed out). */
  status: number[];
}

/** Connections to the host: enough for 400 requests/s to wait out a stall of a few hundred ms. */
const connections = 128;
const now = (): number => performance.timeOrigin + performance.now();
const accounts = ['acct_cash', 'acct_receivables', 'acct_revenue', 'acct_fees', 'acct_payouts'];

let run: { pool: Pool; samples: LoadSamples; inFlight: Set<Promise<void>>; timer: NodeJS.Timeout | null; stopped: boolean } | null = null;

function body(n: number): string {
  const debit = accounts[n % accounts.length]!;
  const credit = accounts[(n + 1) % accounts.length]!;
  return JSON.stringify({ debit, credit, amountMinor: 1000 + (n % 9000), currency: 'EUR' });
}

function start(url: string, rate: number): void {
  if (run !== null) throw new Error('start: already running');
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const samples: LoadSamples = { type: 'samples', dueAt: [], sentAt: [], doneAt: [], status: [] };
  const current = { pool, samples, inFlight: new Set<Promise<void>>(), timer: null as NodeJS.Timeout | null, stopped: false };
  run = current;
  const intervalMs = 1000 / rate;
  const startAt = now() + 5;
  const send = (n: number): void => {
    samples.dueAt[n] = startAt + n * intervalMs;
    samples.sentAt[n] = now();
    samples.doneAt[n] = null;
    samples.status[n] = 0;
    const request = pool
      .request({ path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body: body(n) })
      .then(async (response) => {
        await response.body.dump();
        samples.status[n] = response.statusCode;
      })
      .catch(() => undefined)
      .finally(() => {
        samples.doneAt[n] = now();
        current.inFlight.delete(request);
      });
    current.inFlight.add(request);
  };
  let next = 0;
  const tick = (): void => {
    if (current.stopped) return;
    const at = now();
    while (startAt + next * intervalMs <= at) send(next++);
    current.timer = setTimeout(tick, Math.max(0, startAt + next * intervalMs - now()));
  };
  current.timer = setTimeout(tick, 5);
}

async function stop(): Promise<LoadSamples> {
  const current = run;
  if (current === null) throw new Error('stop: not running');
  run = null;
  current.stopped = true;
  if (current.timer !== null) clearTimeout(current.timer);
  await Promise.race([Promise.all(current.inFlight), new Promise((resolve) => setTimeout(resolve, 30_000))]);
  await current.pool.destroy();
  return current.samples;
}

serveCommands<LoadCommand>(async (command) => {
  switch (command.type) {
    case 'start':
      start(command.url, command.rate);
      return { type: 'started' };
    case 'stop':
      return stop();
    case 'exit':
      if (run !== null) await stop();
      process.exit(0);
  }
});

process.send!({ type: 'ready' });
