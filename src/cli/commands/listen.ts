/**
 * `bookkeeper-webhooks listen`: a local receiver for development. Every request is
 * verified with the receiver's own `verifyWebhook` and printed (type, id, attempt — the
 * webhook-id repeats on retries —, the verdict and the data); with `--forward-to` it is
 * re-sent byte for byte to the app, whose answer goes back to the sender.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureVerificationError } from '../../errors.js';
import { verifyWebhook } from '../../receiver/verify-webhook.js';
import { resolveVerifyOptions } from '../../signing/verify-signature.js';
import { booleanFlag, jsonOption, stringFlag, stringFlags, type Command, type CommandArgs } from '../command.js';
import type { CliIo } from '../cli-io.js';
import { forwardRequest, type ForwardResult } from '../forward-request.js';
import { httpUrlFlag } from '../http-url-flag.js';
import { listenSecretPath, loadOrCreateListenSecret } from '../listen-secret.js';
import { readableJson } from '../readable-json.js';
import { SECRET_ENV } from '../secrets-flag.js';
import { UsageError } from '../usage-error.js';

/** Largest body accepted: the library's largest `maxPayloadBytes`. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export const listenCommand: Command = {
  name: 'listen',
  summary: 'Receive webhooks locally: verify and print each one, forward it to your app',
  positionals: [],
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    'forward-to': { type: 'string' },
    secret: { type: 'string', multiple: true },
    ...jsonOption,
  },
  help: `Usage: bookkeeper-webhooks listen [--port 4000] [--forward-to <url>] [--secret <whsec_…>]

Runs a webhook receiver on your machine. Each request is verified (Standard
Webhooks signature and timestamp) and printed: its type, id, attempt number (the
webhook-id repeats on retries), the verdict and the data. Stop it with Ctrl-C.

Without --secret, a secret is generated once and kept in
$XDG_CONFIG_HOME/bookkeeper-webhooks/listen.json (or ~/.config/…, mode 0600), so
it stays the same across restarts; it is printed when listen starts. Give it to
the sender (\`trigger --secret\`, or the subscription's secret) and to your app.

Options:
  --port <port>           port to listen on (default 4000; 0 picks a free one)
  --host <address>        address to listen on (default 127.0.0.1)
  --forward-to <url>      re-send each request, same bytes and headers, to your app;
                          the app's status and body go back to the sender
  --secret <whsec_…>      verify with this secret (repeatable; or set ${SECRET_ENV})
  --json                  print one JSON object per line: the address, then each request
  -h, --help              show this help

Without --forward-to, a valid request is answered 204 and an invalid one 400.`,

  async run(args, io) {
    const port = portFlag(stringFlag(args, 'port'), this.name);
    const forwardTo = httpUrlFlag(stringFlag(args, 'forward-to'), 'forward-to', this.name);
    const secrets = await listenSecrets(args, io);
    // Decoded now, so that a malformed secret fails here (SECRET_INVALID, exit 1) and not in the first request.
    resolveVerifyOptions({ secrets: secrets.secrets });
    const attempts = new Map<string, number>();
    const server = createServer((req, res) => {
      handle(req, res, { io, args, secrets: secrets.secrets, forwardTo, attempts }).catch((error: unknown) => dropped(io, res, error));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, stringFlag(args, 'host') ?? '127.0.0.1', () => resolve());
    });
    // Handlers first: a Ctrl-C right after the ready line must still close cleanly.
    const closed = closedOnSignal(server);
    announce(io, args, server, forwardTo, secrets);
    await closed;
    return 0;
  },
};

interface ListenSecrets {
  secrets: string[];
  /** Where the generated secret is kept; `undefined` when given on the command line or in the environment. */
  storedAt?: string;
}

async function listenSecrets(args: CommandArgs, io: CliIo): Promise<ListenSecrets> {
  const given = stringFlags(args, 'secret');
  if (given.length > 0) return { secrets: given };
  const fromEnv = io.env[SECRET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { secrets: [fromEnv] };
  const path = listenSecretPath(io.env);
  return { secrets: [(await loadOrCreateListenSecret(path)).secret], storedAt: path };
}

function portFlag(value: string | undefined, command: string): number {
  if (value === undefined) return 4000;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw new UsageError(`Expected --port to be a port number from 0 to 65535, got ${JSON.stringify(value)}`, command);
  return port;
}

/** The one place the secret is printed: at start, when listen made or read it itself (a given one is the caller's). */
function announce(io: CliIo, args: CommandArgs, server: Server, forwardTo: string | undefined, secrets: ListenSecrets): void {
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
  const secret = secrets.storedAt === undefined ? undefined : secrets.secrets[0];
  if (booleanFlag(args, 'json')) {
    io.out(JSON.stringify({ listening: url, forwardTo: forwardTo ?? null, ...(secret === undefined ? {} : { secret, secretFile: secrets.storedAt }) }));
    return;
  }
  const { bold, green, dim, cyan } = io.style;
  io.out(`${green(bold('Ready!'))} Listening on ${cyan(url)}${forwardTo === undefined ? '' : ` and forwarding to ${cyan(forwardTo)}`}`);
  if (secret !== undefined) io.out(`Your webhook signing secret is ${bold(secret)} ${dim(`(kept in ${secrets.storedAt})`)}`);
  io.out(dim('Press Ctrl-C to stop.'));
}

function closedOnSignal(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.closeAllConnections();
      server.close(() => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

interface HandleContext {
  io: CliIo;
  args: CommandArgs;
  secrets: string[];
  forwardTo: string | undefined;
  /** Requests seen per webhook-id: a retry or redelivery repeats the id. */
  attempts: Map<string, number>;
}

/** What `listen` saw of one request. */
interface Received {
  id: string | null;
  attempt: number;
  verified: boolean;
  code: string | null;
  type: string | null;
  data: unknown;
  forward: ForwardResult | null;
}

async function handle(req: IncomingMessage, res: ServerResponse, context: HandleContext): Promise<void> {
  const body = await readBody(req);
  if (body === null) {
    res.writeHead(413).end();
    return;
  }
  const idHeader = req.headers['webhook-id'];
  const id = typeof idHeader === 'string' ? idHeader : null;
  const attempt = id === null ? 1 : (context.attempts.get(id) ?? 0) + 1;
  if (id !== null) context.attempts.set(id, attempt);
  const received: Received = { id, attempt, forward: null, ...verdict(req, body, context.secrets) };
  if (context.forwardTo !== undefined) received.forward = await forwardRequest(context.forwardTo, req.method ?? 'POST', req.rawHeaders, body);
  print(context, received);
  answer(res, received);
}

/** A request that could not be handled (its sender hung up before the body ended): reported, and listen goes on. */
function dropped(io: CliIo, res: ServerResponse, error: unknown): void {
  io.err(`${io.errorStyle.red('✘ request dropped:')} ${error instanceof Error ? error.message : String(error)}`);
  if (!res.headersSent && !res.destroyed) res.writeHead(500).end();
}

function verdict(req: IncomingMessage, body: Buffer, secrets: string[]): Pick<Received, 'verified' | 'code' | 'type' | 'data'> {
  try {
    const event = verifyWebhook({ body, headers: req.headers }, { secrets });
    return { verified: true, code: null, type: event.type, data: event.data };
  } catch (error) {
    if (!(error instanceof SignatureVerificationError)) throw error;
    // Shown for orientation only, marked unverified: nothing of an unverified body is trusted.
    return { verified: false, code: error.code, ...claimedEvent(body) };
  }
}

function claimedEvent(body: Buffer): { type: string | null; data: unknown } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { type?: unknown; data?: unknown };
    return { type: typeof parsed.type === 'string' ? parsed.type : null, data: parsed.data };
  } catch {
    return { type: null, data: undefined };
  }
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, received: Received): void {
  const { forward } = received;
  if (forward === null) {
    if (received.verified) res.writeHead(204).end();
    else res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: received.code }));
  } else if ('error' in forward) {
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `forward failed: ${forward.error}` }));
  } else {
    res.writeHead(forward.status, forward.contentType === undefined ? {} : { 'content-type': forward.contentType }).end(forward.body);
  }
}

function print({ io, args, forwardTo }: HandleContext, received: Received): void {
  const { forward } = received;
  if (booleanFlag(args, 'json')) {
    const forwarded = forward === null ? null : 'error' in forward ? { url: forwardTo, error: forward.error } : { url: forwardTo, status: forward.status, durationMs: Math.round(forward.durationMs) };
    io.out(JSON.stringify({ id: received.id, type: received.type, attempt: received.attempt, verified: received.verified, code: received.code, data: received.data, forward: forwarded }));
    return;
  }
  const { bold, dim, green, red, yellow } = io.style;
  const time = dim(new Date().toISOString().slice(11, 19));
  const sign = received.verified ? green('✔ signature valid') : red(`✘ ${received.code}`);
  const type = received.type === null ? dim('(no type)') : received.verified ? bold(received.type) : `${received.type} ${dim('(unverified)')}`;
  const attempt = received.attempt > 1 ? yellow(`attempt ${received.attempt}`) : `attempt ${received.attempt}`;
  io.out(`${time}  ${type}  ${received.id ?? dim('(no webhook-id)')}  ${attempt}  ${sign}`);
  if (received.data !== undefined) io.out('    ' + readableJson(received.data, '    '));
  if (forward !== null) {
    const outcome = 'error' in forward ? red(`failed: ${forward.error}`) : (forward.status >= 200 && forward.status < 300 ? green : red)(String(forward.status));
    io.out(`  ${dim('→')} ${forwardTo} ${outcome} ${dim(`(${Math.round(forward.durationMs)} ms)`)}`);
  }
}
