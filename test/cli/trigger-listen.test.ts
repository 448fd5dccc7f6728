/**
 * `trigger` and `listen` as child processes against real loopback servers: trigger sends
 * what the dispatcher sends (verified with the secret, the catalog example with its
 * overrides, refused before sending when the data fails the schema); listen verifies,
 * counts attempts per webhook-id, forwards the exact bytes to the app and keeps its
 * generated secret across restarts.
 */
import { statSync, writeFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, it } from 'vitest';
import { bookkeeperEvents, generateSecret } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import { LoopbackReceiver } from '../support/loopback-receiver.js';
import { cleanEnv, collect, lineMatching, runCli, startCli } from './cli-process.js';

const secret = generateSecret();

/** Starts `listen --json` on a free port; resolves with its address, its first line and a stop function. */
async function startListen(args: string[], env = cleanEnv()) {
  const child = startCli(['listen', '--port', '0', '--json', ...args], { env });
  const lines: Array<Record<string, unknown>> = [];
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const complete = pending.split('\n');
    pending = complete.pop()!;
    for (const line of complete) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const first = JSON.parse(await lineMatching(child, /"listening"/)) as { listening: string; secret?: string; secretFile?: string };
  const stopped = collect(child);
  return {
    ready: first,
    url: first.listening,
    /** The JSON lines of received requests printed so far. */
    received: () => lines.filter((line) => !('listening' in line)),
    async stop() {
      child.kill('SIGINT');
      return stopped;
    },
  };
}

describe.concurrent('trigger', () => {
  it('sends the example with --set overrides, signed and shaped as the dispatcher sends it, and prints the answer', async ({ expect }) => {
    const receiver = await LoopbackReceiver.start(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"received":true}' }));
    try {
      const run = await runCli(['trigger', 'payment.succeeded', '--to', receiver.url, '--secret', secret, '--set', 'amount.amount=500', '--set', 'reference=INV-7']);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(receiver.requests).toHaveLength(1);
      const [sent] = receiver.requests;
      const event = verifyWebhook({ body: sent!.body, headers: sent!.headers }, { secrets: secret });
      expect(event.type).toBe('payment.succeeded');
      expect(event.data).toEqual({ ...bookkeeperEvents.examples['payment.succeeded'], amount: { ...bookkeeperEvents.examples['payment.succeeded'].amount, amount: 500 }, reference: 'INV-7' });
      expect(sent!.headers).toMatchObject({ 'content-type': 'application/json', 'user-agent': 'Bookkeeper-Webhooks/1', 'webhook-id': event.id });
      expect(Object.keys(JSON.parse(sent!.body.toString('utf8')) as object)).toEqual(['id', 'type', 'timestamp', 'data']);
      expect(run.stdout).toMatch(new RegExp(`^→ POST ${receiver.url.replaceAll('.', '\\.')} {2}payment\\.succeeded {2}${event.id}\\n← 200 {2}\\d+ ms\\n\\{"received":true\\}\\n$`));
      expect(run.stdout).not.toContain(secret);
    } finally {
      await receiver.close();
    }
  });

  it('a refusal on the other side shows as its status and body, exit 1', async ({ expect }) => {
    const receiver = await LoopbackReceiver.start(() => ({ status: 401, body: 'bad signature' }));
    try {
      const run = await runCli(['trigger', 'refund.initiated', '--to', receiver.url, '--secret', secret, '--json']);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toMatchObject({ type: 'refund.initiated', ok: false, statusCode: 401, error: 'HTTP 401', body: 'bad signature' });
      const unreachable = await runCli(['trigger', 'refund.initiated', '--to', 'http://127.0.0.1:1/webhooks', '--secret', secret, '--json']);
      expect(unreachable.code).toBe(1);
      expect(JSON.parse(unreachable.stdout)).toMatchObject({ ok: false, statusCode: null, body: null });
    } finally {
      await receiver.close();
    }
  });

  it('takes the data from --data, and refuses data that fails the schema with the issue, sending nothing', async ({ expect }) => {
    const receiver = await LoopbackReceiver.start();
    const dataFile = join(mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-trigger-')), 'data.json');
    writeFileSync(dataFile, JSON.stringify({ ...bookkeeperEvents.examples['payment.failed'], failureCode: 'card_declined' }));
    try {
      const run = await runCli(['trigger', 'payment.failed', '--to', receiver.url, '--secret', secret, '--data', dataFile, '--set', 'failureMessage="402"']);
      expect(run.code).toBe(0);
      const event = verifyWebhook({ body: receiver.requests[0]!.body, headers: receiver.requests[0]!.headers }, { secrets: secret });
      expect(event.data).toMatchObject({ failureCode: 'card_declined', failureMessage: '402' });
      const invalid = await runCli(['trigger', 'payment.failed', '--to', receiver.url, '--secret', secret, '--set', 'amount.amount=12.5']);
      expect(invalid.code).toBe(1);
      expect(invalid.stderr).toMatch(/^error EVENT_DATA_INVALID: .*`data\.amount\.amount`.*12\.5/m);
      expect(receiver.requests).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('sends --metadata entries in the signed envelope, refuses a bad key by name, and a flag without = as usage', async ({ expect }) => {
    const receiver = await LoopbackReceiver.start();
    try {
      const run = await runCli(['trigger', 'payment.succeeded', '--to', receiver.url, '--secret', secret, '--metadata', 'region=eu', '--metadata', 'note=a=b c']);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      const [sent] = receiver.requests;
      const event = verifyWebhook({ body: sent!.body, headers: sent!.headers }, { secrets: secret });
      expect(event.metadata).toEqual({ region: 'eu', note: 'a=b c' });
      expect(Object.keys(JSON.parse(sent!.body.toString('utf8')) as object)).toEqual(['id', 'type', 'timestamp', 'metadata', 'data']);

      const [badKey, noEquals, twice] = await Promise.all([
        runCli(['trigger', 'payment.succeeded', '--to', receiver.url, '--secret', secret, '--metadata', 'the.region=eu']),
        runCli(['trigger', 'payment.succeeded', '--to', receiver.url, '--secret', secret, '--metadata', 'region']),
        runCli(['trigger', 'payment.succeeded', '--to', receiver.url, '--secret', secret, '--metadata', 'region=eu', '--metadata', 'region=us']),
      ]);
      expect([badKey.code, noEquals.code, twice.code]).toEqual([1, 2, 2]);
      expect(badKey.stderr).toMatch(/^error INPUT_INVALID: .*`options\.metadata`.*"the\.region"/m);
      expect(noEquals.stderr).toContain('Expected --metadata key=value (e.g. region=eu), got "region"');
      expect(twice.stderr).toContain('Expected each --metadata key once, got "region" twice');
      expect(receiver.requests).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('usage mistakes exit 2: an unknown type, no --to, a --set without =', async ({ expect }) => {
    const [type, to, set] = await Promise.all([
      runCli(['trigger', 'payment.done', '--to', 'http://127.0.0.1:1/', '--secret', secret]),
      runCli(['trigger', 'payment.succeeded', '--secret', secret]),
      runCli(['trigger', 'payment.succeeded', '--to', 'http://127.0.0.1:1/', '--secret', secret, '--set', 'amount']),
    ]);
    expect([type.code, to.code, set.code]).toEqual([2, 2, 2]);
    expect(type.stderr).toContain('Unknown event type "payment.done": expected one of payment.succeeded,');
    expect(to.stderr).toContain('Expected --to <url> for `trigger`, got none');
    expect(set.stderr).toContain('Expected --set path=value (e.g. amount.amount=500), got "amount"');
  });
});

describe.concurrent('listen', () => {
  it('receives what trigger sends, verifies it, forwards the exact bytes to the app, which verifies them with the original secret', async ({ expect }) => {
    const app = await LoopbackReceiver.start(() => ({ status: 202, body: 'queued' }));
    const listen = await startListen(['--secret', secret, '--forward-to', app.url]);
    try {
      const run = await runCli(['trigger', 'invoice.paid', '--to', listen.url, '--secret', secret, '--json']);
      // The sender sees the app's answer.
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, statusCode: 202, body: 'queued' });
      expect(app.requests).toHaveLength(1);
      const forwarded = app.requests[0]!;
      const event = verifyWebhook({ body: forwarded.body, headers: forwarded.headers }, { secrets: secret });
      expect(event).toMatchObject({ type: 'invoice.paid', data: bookkeeperEvents.examples['invoice.paid'] });
      expect(forwarded.headers['user-agent']).toBe('Bookkeeper-Webhooks/1');
      // The same request again (a retry repeats the webhook-id): attempt 2.
      const headers = Object.fromEntries(['content-type', 'webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, forwarded.headers[name] as string]));
      const again = await request(listen.url, { method: 'POST', headers, body: forwarded.body });
      expect(again.statusCode).toBe(202);
      expect(await again.body.text()).toBe('queued');
      expect(app.requests[1]!.body.equals(forwarded.body)).toBe(true);
      expect(listen.received()).toEqual([
        { id: event.id, type: 'invoice.paid', attempt: 1, verified: true, code: null, data: event.data, forward: { url: app.url, status: 202, durationMs: expect.any(Number) } },
        { id: event.id, type: 'invoice.paid', attempt: 2, verified: true, code: null, data: event.data, forward: { url: app.url, status: 202, durationMs: expect.any(Number) } },
      ]);
      expect(listen.ready).not.toHaveProperty('secret');
    } finally {
      expect((await listen.stop()).code).toBe(0);
      await app.close();
    }
  });

  it('without --secret: generates one, keeps it 0600 in the config dir, reuses it after a restart; another secret is refused 400', async ({ expect }) => {
    const env = cleanEnv();
    const first = await startListen([], env);
    let second: Awaited<ReturnType<typeof startListen>> | undefined;
    try {
      const stored = first.ready.secretFile!;
      expect(stored).toBe(join(env.XDG_CONFIG_HOME!, 'bookkeeper-webhooks', 'listen.json'));
      expect(statSync(stored).mode & 0o777).toBe(0o600);
      expect(JSON.parse(readFileSync(stored, 'utf8'))).toEqual({ secret: first.ready.secret });
      expect(first.ready.secret).toMatch(/^whsec_/);
      expect((await first.stop()).code).toBe(0);
      second = await startListen([], env);
      expect(second.ready.secret).toBe(first.ready.secret);
      const good = await runCli(['trigger', 'payout.paid', '--to', second.url, '--secret', second.ready.secret!]);
      expect(good.stdout).toMatch(/^← 204 /m);
      const wrong = await runCli(['trigger', 'payout.paid', '--to', second.url, '--secret', secret, '--json']);
      expect(wrong.code).toBe(1);
      expect(JSON.parse(wrong.stdout)).toMatchObject({ statusCode: 400, body: '{"error":"WEBHOOK_NO_MATCHING_SIGNATURE"}' });
      expect(second.received().map((line) => [line.type, line.verified, line.code])).toEqual([
        ['payout.paid', true, null],
        ['payout.paid', false, 'WEBHOOK_NO_MATCHING_SIGNATURE'],
      ]);
    } finally {
      await first.stop();
      if (second !== undefined) expect((await second.stop()).code).toBe(0);
    }
  });

  it('a malformed --secret fails at start with SECRET_INVALID, exit 1, without echoing it; nothing listens', async ({ expect }) => {
    const run = await runCli(['listen', '--port', '0', '--secret', 'whsec_!!not-base64']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('SECRET_INVALID');
    expect(run.stderr).not.toContain('not-base64');
    expect(run.stdout).not.toContain('Ready!');
  });

  it('a sender that hangs up before its body ends is reported, and listen goes on receiving', async ({ expect }) => {
    const listen = await startListen(['--secret', secret]);
    let stderr = '';
    try {
      const { port } = new URL(listen.url);
      await new Promise<void>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"id":');
          setTimeout(() => socket.destroy(), 50);
        });
        socket.on('close', () => resolve()).on('error', reject);
      });
      const after = await runCli(['trigger', 'payout.paid', '--to', listen.url, '--secret', secret]);
      expect(after.code).toBe(0);
      expect(after.stdout).toMatch(/^← 204 /m);
    } finally {
      const stopped = await listen.stop();
      stderr = stopped.stderr;
      expect(stopped.code).toBe(0);
    }
    expect(stderr).toContain('request dropped: aborted');
    expect(listen.received().map((line) => line.type)).toEqual(['payout.paid']);
  });

  it('usage mistakes exit 2: a bad port, a forward URL that is no URL', async ({ expect }) => {
    const [port, forward] = await Promise.all([runCli(['listen', '--port', 'http']), runCli(['listen', '--forward-to', 'localhost:3000'])]);
    expect([port.code, forward.code]).toEqual([2, 2]);
    expect(port.stderr).toContain('Expected --port to be a port number from 0 to 65535, got "http"');
    expect(forward.stderr).toContain('Expected --forward-to to be an http(s) URL, got "localhost:3000"');
  });
});
