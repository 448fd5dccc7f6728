import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the receiver saw it on the wire. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Header names and values as they came, in order, duplicates kept (`headers` folds or drops them). */
  rawHeaders: string[];
  body: Buffer;
}

/** Decides the answer to the n-th request (0-based). Return nothing to answer 204. */
export type Responder = (request: ReceivedRequest, index: number, res: ServerResponse) => void | { status: number; headers?: Record<string, string>; body?: string } | 'hang' | 'reset';

/** A real node:http server on 127.0.0.1 that records every request and answers as scripted. */
export class LoopbackReceiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly server: Server;
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  private readonly hanging = new Set<ServerResponse>();
  responder: Responder;

  private constructor(responder: Responder) {
    this.responder = responder;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
        const index = this.requests.length;
        this.requests.push(request);
        const answer = this.responder(request, index, res);
        if (answer === 'hang') {
          this.hanging.add(res);
        } else if (answer === 'reset') {
          req.socket.destroy();
        } else if (!res.headersSent && !res.writableEnded) {
          const { status = 204, headers = {}, body = '' } = answer ?? {};
          res.writeHead(status, headers);
          res.end(body);
        }
        this.notify();
      });
    });
  }

  static async start(responder: Responder = () => undefined): Promise<LoopbackReceiver> {
    const receiver = new LoopbackReceiver(responder);
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', () => resolve()));
    return receiver;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/webhooks`;
  }

  /**
   * From now on, holds the answer to each request (the first `count` of them, counted from the
   * start, when given; the rest answer 204): they stay in flight until the returned function
   * answers every one held so far with 204.
   */
  holdAnswers(count = Number.POSITIVE_INFINITY): () => void {
    const held: ServerResponse[] = [];
    this.responder = (_request, index, res) => {
      if (index >= count) return undefined;
      held.push(res);
      return 'hang';
    };
    return () => {
      for (const res of held.splice(0)) res.writeHead(204).end();
    };
  }

  /** Resolves once `count` requests have arrived (bounded by the test timeout). */
  waitFor(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  private notify(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (this.requests.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
