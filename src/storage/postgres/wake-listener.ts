/**
 * The receiving side of wake-ups: one LISTEN connection, kept open, reconnecting with
 * jittered exponential backoff when it drops. Notifications are hints; the dispatcher's
 * polling stays the backstop.
 */
import type { Client } from 'pg';
import { quoteIdentifier } from './migrations/index.js';

const listenMinDelayMs = 100;
const listenMaxDelayMs = 10_000;

/**
 * Calls `onWake` for every notification of our schema (coalesced to one call per turn of
 * the event loop) and once after every reconnect (a notification sent while we were away
 * is lost, so look for work).
 */
export class WakeListener {
  readonly #createClient: () => Client;
  readonly #channel: string;
  readonly #payload: string;
  readonly #onWake: () => void;
  /** Probe payloads awaited by {@link WakeListener.probe} → what to call when one arrives. */
  readonly #probes = new Map<string, () => void>();
  #client: Client | null = null;
  #stopped = false;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #wakeScheduled = false;

  constructor(createClient: () => Client, channel: string, payload: string, onWake: () => void) {
    this.#createClient = createClient;
    this.#channel = channel;
    this.#payload = payload;
    this.#onWake = onWake;
  }

  /** Connects once; if that fails, keeps trying in the background (polling covers the gap). */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Whether the LISTEN connection is up now. */
  get listening(): boolean {
    return this.#client !== null;
  }

  /**
   * Whether a notification of `payload` on our channel, sent by `send` (through the
   * pool, as a publish's is), reaches this connection within `timeoutMs`. Behind a pooler
   * in transaction mode the LISTEN was run on a server connection that is not ours
   * between transactions, and the notification goes elsewhere or nowhere. Another
   * instance's listener ignores the payload (it is not the schema's). `null` when the
   * listener stopped meanwhile.
   */
  async probe(payload: string, send: () => Promise<unknown>, timeoutMs: number): Promise<boolean | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      this.#probes.set(payload, () => resolve(true));
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref?.();
    });
    try {
      await send();
      const result = await arrived;
      return this.#stopped ? null : result;
    } finally {
      clearTimeout(timer);
      this.#probes.delete(payload);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    // A probe under way answers at once rather than at its deadline.
    for (const answer of this.#probes.values()) answer();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    if (client === null) return;
    try {
      await client.query(`UNLISTEN ${quoteIdentifier(this.#channel)}`);
    } catch {
      // The connection may already be gone; ending it is all that is left to do.
    }
    await client.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    this.#timer = null;
    if (this.#stopped) return;
    let client: Client;
    try {
      client = this.#createClient();
    } catch {
      this.#retryLater();
      return;
    }
    // Listeners first: an 'error' without a listener would crash the host process.
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (message.channel !== this.#channel) return;
      const payload = message.payload ?? '';
      if (payload === this.#payload) this.#wake();
      else this.#probes.get(payload)?.();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdentifier(this.#channel)}`);
    } catch {
      await client.end().catch(() => undefined);
      this.#retryLater();
      return;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    if (this.#failures > 0) this.#wake();
    this.#failures = 0;
  }

  #lost(client: Client): void {
    if (client !== this.#client) return;
    this.#client = null;
    void client.end().catch(() => undefined);
    this.#retryLater();
  }

  #retryLater(): void {
    if (this.#stopped || this.#timer !== null) return;
    const ceiling = Math.min(listenMaxDelayMs, listenMinDelayMs * 2 ** this.#failures);
    this.#failures += 1;
    // Full jitter on the upper half: instances that lost the database together do not
    // reconnect in lockstep.
    const delayMs = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#timer = setTimeout(() => void this.#connect(), delayMs);
    this.#timer.unref?.();
  }

  #wake(): void {
    if (this.#wakeScheduled || this.#stopped) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      if (!this.#stopped) this.#onWake();
    });
  }
}
