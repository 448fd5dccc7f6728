/**
 * Hostile webhook receivers on 127.0.0.1 for integration tests.
 *
 * `ChaosReceiver` is a real `node:http` server that picks its behaviour per request
 * from the body: `data.paymentId` is `<behaviour>:<anything>`, e.g. `status-503:1`,
 * `hang:1`, `huge-500:1`. It counts the requests it saw per `webhook-id`.
 *
 * `GarbageServer` is a raw `net` server that answers every connection with bytes
 * that are not HTTP and hangs up; it counts connections.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';

/**
 * Behaviours, by the prefix of `data.paymentId`:
 * - `status-<code>`: answers `<code>` with the body `chaos <code>`;
 * - `retry-after-<code>-<seconds>`: answers `<code>` with `Retry-After: <seconds>`;
 * - `redirect-<code>`: answers `<code>` with `Location` set to {@link ChaosReceiverOptions.redirectTo};
 * - `hang`: reads the request and never answers;
 * - `slow`: answers 200, headers after 60 ms, the body trickled over another 60 ms;
 * - `reset`: reads the request and destroys the socket without answering;
 * - `reset-after-headers`: sends `200` headers and part of a declared body, then destroys the socket;
 * - `garbage`: writes a non-HTTP line on the socket and destroys it;
 * - `huge-<code>`: answers `<code>` with a {@link ChaosReceiverOptions.hugeBytes} body of ASCII, streamed;
 * - `huge-utf8-<code>`: the same with three-byte UTF-8 characters (`€`);
 * - `processing-<ms>`: sends `102 Processing` every `<ms>` and never a final response;
 * - `trickle-<ms>`: sends `200` headers, then one body byte every `<ms>`, and never ends the body;
 * - `late-end-<ms>`: sends `200` headers and a first chunk, and the last chunk `<ms>` later.
 * Anything else answers 204.
 */
export type Behaviour = string;

export interface ChaosReceiverOptions {
  /** The `Location` of redirects. */
  redirectTo?: string;
  /** Size of a huge body. @defaultValue 5 MiB */
  hugeBytes?: number;
}

/** What the server managed to hand to the socket for one huge body before the client hung up. */
export interface HugeResponse {
  webhookId: string;
  status: number;
  bytesWritten: number;
  completed: boolean;
  /** The server side of the response is closed (its socket buffers can be freed). */
  closed: boolean;
}

const CHUNK_BYTES = 64 * 1024;
const asciiChunk = Buffer.alloc(CHUNK_BYTES, 'x');
// 64 KiB of "€" (3 bytes each): 21,845 whole characters and one cut; close enough to a chunk.
const utf8Chunk = Buffer.from('€'.repeat(Math.floor(CHUNK_BYTES / 3)));

export function behaviourOf(body: Buffer): Behaviour {
  try {
    const paymentId = (JSON.parse(body.toString('utf8')) as { data?: { paymentId?: unknown } }).data?.paymentId;
    return typeof paymentId === 'string' ? paymentId.split(':')[0]! : 'default';
  } catch {
    return 'default';
  }
}

export class ChaosReceiver {
  /** Requests seen, by `webhook-id`. */
  readonly requestsById = new Map<string, number>();
  /** Behaviour seen, by `webhook-id`. */
  readonly behaviourById = new Map<string, Behaviour>();
  readonly hugeResponses: HugeResponse[] = [];
  /** `webhook-id`s whose response the client cut short: the socket closed before the response ended. */
  readonly cutShort = new Set<string>();
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  private accepted = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly options: Required<ChaosReceiverOptions>;

  private constructor(options: ChaosReceiverOptions) {
    this.options = { redirectTo: 'http://127.0.0.1:9/never', hugeBytes: 5 * 1024 * 1024, ...options };
    this.server = createServer((req, res) => this.handle(req, res));
    // Keep-alive longer than the test, so that a pooled connection is never closed under a request.
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (socket) => {
      this.accepted += 1;
      this.open.add(socket);
      socket.on('close', () => this.open.delete(socket));
    });
    // A client that hangs up mid-response is expected here; it must not become an unhandled error.
    this.server.on('clientError', (_error, socket) => socket.destroy());
  }

  static async start(options: ChaosReceiverOptions = {}): Promise<ChaosReceiver> {
    const receiver = new ChaosReceiver(options);
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', () => resolve()));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks`;
  }

  /** Resolves once the server side of every huge response is closed (bounded wait). */
  async hugeResponsesClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.hugeResponses.some((response) => !response.closed)) {
      if (Date.now() > deadline) throw new Error('huge responses still open on the server side');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Connections accepted since the start, and those still open on the server side. */
  connections(): { accepted: number; open: number } {
    return { accepted: this.accepted, open: this.open.size };
  }

  /** Requests seen for one `webhook-id`. */
  count(webhookId: string): number {
    return this.requestsById.get(webhookId) ?? 0;
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  /** Runs `run` every `ms` until the response closes. */
  private every(ms: number, res: ServerResponse, run: () => void): void {
    const timer = setInterval(run, ms);
    this.timers.add(timer);
    res.once('close', () => {
      clearInterval(timer);
      this.timers.delete(timer);
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    res.on('error', () => undefined);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const webhookId = String(req.headers['webhook-id'] ?? '');
      const behaviour = behaviourOf(body);
      this.requestsById.set(webhookId, this.count(webhookId) + 1);
      this.behaviourById.set(webhookId, behaviour);
      res.once('close', () => {
        if (!res.writableFinished) this.cutShort.add(webhookId);
      });
      this.respond(behaviour, webhookId, req, res);
    });
  }

  private respond(behaviour: Behaviour, webhookId: string, req: IncomingMessage, res: ServerResponse): void {
    let match: RegExpExecArray | null;
    if ((match = /^status-(\d{3})$/.exec(behaviour))) {
      const status = Number(match[1]);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 204 ? undefined : `chaos ${status}`);
    } else if ((match = /^retry-after-(\d{3})-(\d+)$/.exec(behaviour))) {
      res.writeHead(Number(match[1]), { 'retry-after': match[2]!, 'content-type': 'text/plain' });
      res.end('slow down');
    } else if ((match = /^redirect-(\d{3})$/.exec(behaviour))) {
      res.writeHead(Number(match[1]), { location: this.options.redirectTo });
      res.end();
    } else if (behaviour === 'hang') {
      // Never answers; the client's timeout (or close()) ends it.
    } else if (behaviour === 'slow') {
      this.later(60, () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('slow ');
        this.later(30, () => {
          res.write('but ');
          this.later(30, () => res.end('fine'));
        });
      });
    } else if (behaviour === 'reset') {
      req.socket.destroy();
    } else if (behaviour === 'reset-after-headers') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
      res.write('only the start of the body');
      this.later(20, () => req.socket.destroy());
    } else if (behaviour === 'garbage') {
      req.socket.write('garbage\r\n\r\n');
      req.socket.destroy();
    } else if ((match = /^processing-(\d+)$/.exec(behaviour))) {
      this.every(Number(match[1]), res, () => res.writeProcessing());
    } else if ((match = /^trickle-(\d+)$/.exec(behaviour))) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      this.every(Number(match[1]), res, () => res.write('.'));
    } else if ((match = /^late-end-(\d+)$/.exec(behaviour))) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('accepted, ');
      this.later(Number(match[1]), () => res.end('really'));
    } else if ((match = /^huge-(utf8-)?(\d{3})$/.exec(behaviour))) {
      this.streamHuge(res, webhookId, Number(match[2]), match[1] ? utf8Chunk : asciiChunk);
    } else {
      res.writeHead(204).end();
    }
  }

  /** Streams a huge body with backpressure, stopping as soon as the client hangs up. */
  private streamHuge(res: ServerResponse, webhookId: string, status: number, chunk: Buffer): void {
    const record: HugeResponse = { webhookId, status, bytesWritten: 0, completed: false, closed: false };
    this.hugeResponses.push(record);
    res.once('close', () => (record.closed = true));
    const total = this.options.hugeBytes;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(total) });
    const pump = (): void => {
      while (record.bytesWritten < total && !res.destroyed) {
        const size = Math.min(chunk.length, total - record.bytesWritten);
        record.bytesWritten += size;
        if (!res.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
          res.once('drain', pump);
          return;
        }
      }
      if (record.bytesWritten >= total && !res.destroyed) {
        record.completed = true;
        res.end();
      }
    };
    pump();
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.open) socket.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A raw TCP server that answers every connection with non-HTTP bytes and hangs up. */
export class GarbageServer {
  connections = 0;
  private readonly server: NetServer;
  private readonly open = new Set<Socket>();

  private constructor() {
    this.server = createNetServer((socket) => {
      this.connections += 1;
      this.open.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.open.delete(socket));
      // Wait for the request to start arriving, then answer nonsense and hang up.
      socket.once('data', () => {
        socket.write('garbage\r\n\r\n');
        socket.destroy();
      });
    });
  }

  static async start(): Promise<GarbageServer> {
    const server = new GarbageServer();
    await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', () => resolve()));
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks`;
  }

  async close(): Promise<void> {
    for (const socket of this.open) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
