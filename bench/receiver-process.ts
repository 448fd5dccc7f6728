/**
 * The loopback receiver, run in its own process (`child_process.fork`) so that the
 * sender under test does not share its event loop with the server it posts to.
 *
 * It answers every POST with 204 once the whole body has arrived, counts requests,
 * bytes and distinct `webhook-id`s, and — when asked to record — timestamps each
 * arrival on the clock both processes share (`performance.timeOrigin +
 * performance.now()`, epoch ms with sub-millisecond resolution), so the parent can
 * compute publish → arrival latency. A figure is only reported for deliveries that
 * this process says really arrived. Requests that carry a `webhook-sequence` (ordered
 * deliveries) are listed with their number in arrival order, so that the parent can check
 * each ordering key's order (the key is in the body; the parent knows each event's).
 *
 * Protocol (IPC): the child sends `{ type: 'ready', port }` once listening; the parent
 * sends `{ type: 'reset', record }` (→ `{ type: 'reset' }`) before a trial and
 * `{ type: 'report' }` (→ a {@link ReceiverReport}) after it. A reset may ask for
 * `samples`: the first that many requests are then kept whole (their `webhook-*` headers
 * and body), so that the parent can check their signatures with the secret it knows.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** What the receiver saw since the last reset. */
export interface ReceiverReport {
  type: 'report';
  /** Requests whose body fully arrived. */
  requests: number;
  /** Distinct `webhook-id` values among them (or `x-bench-id` for the bare loops). */
  distinctIds: number;
  /** Body bytes received. */
  bytes: number;
  /** CPU time this process used since the reset (user + system), ms. */
  cpuMs: number;
  /** Wall time since the reset, ms. */
  wallMs: number;
  /** When recording: `[id, arrival epoch ms]` per request. */
  arrivals: Array<[string, number]>;
  /** `[id, webhook-sequence]` of every request that carried one, in arrival order. */
  sequenced: Array<[string, number]>;
  /** Requests that carried a `webhook-signature` header. */
  signed: number;
  /** The first requests whole, as many as the reset asked for. */
  samples: ReceivedSample[];
}

/** A request as it arrived: its Standard Webhooks headers and raw body. */
export interface ReceivedSample {
  headers: { 'webhook-id'?: string; 'webhook-timestamp'?: string; 'webhook-signature'?: string };
  body: string;
}

export type ReceiverCommand = { type: 'reset'; record: boolean; samples?: number } | { type: 'report' } | { type: 'exit' };

let requests = 0;
let bytes = 0;
let ids = new Set<string>();
let record = false;
let arrivals: Array<[string, number]> = [];
let sequenced: Array<[string, number]> = [];
let signed = 0;
let samplesWanted = 0;
let samples: ReceivedSample[] = [];
let cpuAtReset = process.cpuUsage();
let wallAtReset = performance.now();

function idOf(req: IncomingMessage): string | undefined {
  const id = req.headers['webhook-id'] ?? req.headers['x-bench-id'];
  return typeof id === 'string' ? id : undefined;
}

function arrived(id: string | undefined, size: number, sequence: string | undefined, signature: string | undefined): void {
  const arrivedAt = performance.timeOrigin + performance.now();
  requests += 1;
  bytes += size;
  if (signature !== undefined) signed += 1;
  if (id !== undefined) {
    ids.add(id);
    if (record) arrivals.push([id, arrivedAt]);
    // NaN for a malformed number: the parent's order check refuses it.
    if (sequence !== undefined) sequenced.push([id, Number(sequence)]);
  }
}

function sequenceOf(req: IncomingMessage): string | undefined {
  const sequence = req.headers['webhook-sequence'];
  return typeof sequence === 'string' ? sequence : undefined;
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** Whether the request now arriving is kept whole (see {@link ReceivedSample}). */
function sampling(): boolean {
  return samples.length < samplesWanted;
}

function keepSample(id: string | undefined, timestamp: string | undefined, signature: string | undefined, body: Buffer[]): void {
  const headers: ReceivedSample['headers'] = {};
  if (id !== undefined) headers['webhook-id'] = id;
  if (timestamp !== undefined) headers['webhook-timestamp'] = timestamp;
  if (signature !== undefined) headers['webhook-signature'] = signature;
  samples.push({ headers, body: Buffer.concat(body).toString('utf8') });
}

/** node:http: the server a typical receiver runs. */
function httpServer(): Server {
  const server = createHttpServer({ keepAliveTimeout: 60_000 }, (req: IncomingMessage, res: ServerResponse) => {
    let size = 0;
    const body: Buffer[] | null = sampling() ? [] : null;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      body?.push(chunk);
    });
    req.on('end', () => {
      const signature = headerOf(req, 'webhook-signature');
      if (body !== null) keepSample(headerOf(req, 'webhook-id'), headerOf(req, 'webhook-timestamp'), signature, body);
      arrived(idOf(req), size, sequenceOf(req), signature);
      res.writeHead(204);
      res.end();
    });
  });
  server.headersTimeout = 60_000;
  server.requestTimeout = 0;
  return server;
}

const headEnd = Buffer.from('\r\n\r\n');
const noContent = Buffer.from('HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n');
const badRequest = Buffer.from('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');

/** `lowerHead` is `head` in lower case (the same length: the head is read as latin1). */
function headerValue(head: string, lowerHead: string, name: string): string | undefined {
  // Header names are matched case-insensitively at the start of a line; the value keeps its case.
  const at = lowerHead.indexOf(`\r\n${name}:`);
  if (at === -1) return undefined;
  const start = at + name.length + 3;
  const end = head.indexOf('\r\n', start);
  return head.slice(start, end === -1 ? head.length : end).trim();
}

/**
 * A minimal HTTP/1.1 server on node:net: reads a head, skips `content-length` body
 * bytes, answers 204 on a kept-alive connection. A tenth of node:http's CPU per
 * request, so the limit loop measures the sender, not this receiver. Requests without
 * a `content-length` (chunked) are refused with 400 and so never counted.
 */
function rawServer(): Server {
  return createNetServer((socket: Socket) => {
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    let bodyLeft = -1;
    let bodySize = 0;
    let id: string | undefined;
    let sequence: string | undefined;
    let signature: string | undefined;
    let timestamp: string | undefined;
    let sampleId: string | undefined;
    let sample: Buffer[] | null = null;
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let answers = 0;
      for (;;) {
        if (bodyLeft < 0) {
          const end = pending.indexOf(headEnd);
          if (end === -1) break;
          const head = pending.toString('latin1', 0, end);
          const lowerHead = head.toLowerCase();
          pending = pending.subarray(end + 4);
          const length = Number(headerValue(head, lowerHead, 'content-length') ?? Number.NaN);
          if (!Number.isSafeInteger(length) || length < 0) {
            socket.end(badRequest);
            return;
          }
          id = headerValue(head, lowerHead, 'webhook-id') ?? headerValue(head, lowerHead, 'x-bench-id');
          sequence = headerValue(head, lowerHead, 'webhook-sequence');
          signature = headerValue(head, lowerHead, 'webhook-signature');
          sample = sampling() ? [] : null;
          if (sample !== null) {
            sampleId = headerValue(head, lowerHead, 'webhook-id');
            timestamp = headerValue(head, lowerHead, 'webhook-timestamp');
          }
          bodyLeft = length;
          bodySize = length;
        }
        const take = Math.min(bodyLeft, pending.length);
        sample?.push(pending.subarray(0, take));
        pending = pending.subarray(take);
        bodyLeft -= take;
        if (bodyLeft > 0) break;
        if (sample !== null) keepSample(sampleId, timestamp, signature, sample);
        arrived(id, bodySize, sequence, signature);
        bodyLeft = -1;
        answers += 1;
      }
      if (answers === 1) socket.write(noContent);
      else if (answers > 1) socket.write(Buffer.concat(Array.from({ length: answers }, () => noContent)));
    });
    socket.on('error', () => socket.destroy());
  });
}

const server = process.argv.includes('--http') ? httpServer() : rawServer();

process.on('message', (message: ReceiverCommand) => {
  if (message.type === 'reset') {
    requests = 0;
    bytes = 0;
    ids = new Set();
    record = message.record;
    arrivals = [];
    sequenced = [];
    signed = 0;
    samplesWanted = message.samples ?? 0;
    samples = [];
    cpuAtReset = process.cpuUsage();
    wallAtReset = performance.now();
    process.send!({ type: 'reset' });
  } else if (message.type === 'report') {
    const cpu = process.cpuUsage(cpuAtReset);
    const report: ReceiverReport = {
      type: 'report',
      requests,
      distinctIds: ids.size,
      bytes,
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: performance.now() - wallAtReset,
      arrivals,
      sequenced,
      signed,
      samples,
    };
    process.send!(report);
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});
// The parent died: do not linger.
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
});
