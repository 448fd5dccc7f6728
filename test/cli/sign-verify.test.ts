/**
 * `sign` and `verify` as child processes: what `sign` prints verifies with the library and
 * its curl command delivers a request a receiver verifies; `verify` accepts a request the
 * dispatcher really sent (captured off a loopback server as a raw HTTP message) and refuses
 * it tampered with, with the verifier's code; v1a: a whsk_ key signs, the whpk_ key verifies,
 * the whsk_ key is refused by verify unechoed; usage mistakes exit 2 with what was expected.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { bookkeeperEvents, createWebhooks, generateSecret, generateSigningKeyPair, signWebhook } from '../../src/index.js';
import { verifyWebhookSignature } from '../../src/receiver/index.js';
import { LoopbackReceiver, type ReceivedRequest } from '../support/loopback-receiver.js';
import { cleanEnv, runCli } from './cli-process.js';

const secret = generateSecret();
const work = mkdtempSync(join(tmpdir(), 'bookkeeper-webhooks-sign-'));
const body = '{"id":"evt_1","type":"payment.succeeded","timestamp":"2026-12-04T10:00:00.000Z","data":{"paymentId":"pay_1"}}\n';
const bodyFile = join(work, 'body.json');
writeFileSync(bodyFile, body);

/** A request as it came off the wire: request line, headers in their order, a blank line, the exact body. */
function rawMessage(request: ReceivedRequest, bodyBytes: Buffer = request.body): Buffer {
  const lines = [`${request.method} ${request.url} HTTP/1.1`];
  for (let i = 0; i < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), bodyBytes]);
}

let receiver: LoopbackReceiver;
let captureFile: string;
let tamperedFile: string;

beforeAll(async () => {
  // A delivery made by the library's own dispatcher, captured as a raw HTTP message.
  receiver = await LoopbackReceiver.start();
  const webhooks = createWebhooks({ events: bookkeeperEvents, security: { allowPrivateNetworks: true } });
  await webhooks.subscriptions.create({ url: receiver.url, eventTypes: ['payment.succeeded'], secret });
  await webhooks.publish('payment.succeeded', bookkeeperEvents.examples['payment.succeeded']);
  webhooks.start();
  await webhooks.drain({ timeoutMs: 10_000 });
  await webhooks.stop();
  const [request] = receiver.requests;
  captureFile = join(work, 'capture.http');
  writeFileSync(captureFile, rawMessage(request!));
  // Same length (content-length still holds), one digit of the amount changed.
  const tampered = Buffer.from(request!.body);
  const text = request!.body.toString('utf8');
  const digit = text.search(/"amount":\d/) + '"amount":'.length;
  tampered.write(text[digit] === '9' ? '8' : '9', digit);
  tamperedFile = join(work, 'tampered.http');
  writeFileSync(tamperedFile, rawMessage(request!, tampered));
});

afterAll(async () => {
  await receiver.close();
});

describe.concurrent('sign', () => {
  it('prints the three headers, signed as signWebhook signs the file byte for byte', async ({ expect }) => {
    const run = await runCli(['sign', bodyFile, '--secret', secret, '--id', 'msg_fixed', '--timestamp', '1796400000']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe(
      `webhook-id: msg_fixed\nwebhook-timestamp: 1796400000\nwebhook-signature: ${signWebhook({ id: 'msg_fixed', timestamp: 1796400000, body, secrets: secret })}\n`,
    );
    expect(run.stdout).not.toContain(secret);
  });

  it('signs stdin with a fresh id and the current time, and the receiver verifies it', async ({ expect }) => {
    const run = await runCli(['sign', '--json', '--secret', secret], { input: body });
    expect(run.code).toBe(0);
    const { id, headers } = JSON.parse(run.stdout) as { id: string; headers: Record<string, string> };
    expect(id).toMatch(/^msg_[0-9A-Z]{26}$/);
    expect(verifyWebhookSignature({ body, headers }, { secrets: secret })).toEqual({ id, timestamp: Number(headers['webhook-timestamp']), body });
  });

  it('takes the secret from WEBHOOK_SECRET when no --secret is given', async ({ expect }) => {
    const run = await runCli(['sign', bodyFile, '--json'], { env: cleanEnv({ WEBHOOK_SECRET: secret }) });
    expect(run.code).toBe(0);
    const { headers } = JSON.parse(run.stdout) as { headers: Record<string, string> };
    expect(verifyWebhookSignature({ body, headers }, { secrets: secret }).body).toBe(body);
  });

  it('--curl prints a command that delivers the exact body with the signed headers', async ({ expect }) => {
    const target = await LoopbackReceiver.start();
    try {
      for (const input of [{ args: [bodyFile] }, { args: [], stdin: body }]) {
        const run = await runCli(['sign', ...input.args, '--secret', secret, '--curl', target.url], { input: input.stdin ?? '', cwd: work });
        expect(run.code).toBe(0);
        expect(run.stdout).toMatch(/^curl -X POST http:\/\/127\.0\.0\.1:\d+\/webhooks \\\n/);
        await promisify(execFile)('sh', ['-c', run.stdout], { cwd: work });
      }
      expect(target.requests).toHaveLength(2);
      for (const request of target.requests) {
        expect(request.body.toString('utf8')).toBe(body);
        expect(request.headers['content-type']).toBe('application/json');
        expect(verifyWebhookSignature({ body: request.body, headers: request.headers }, { secrets: secret }).body).toBe(body);
      }
    } finally {
      await target.close();
    }
  });
});

describe.concurrent('v1a (Ed25519) keys', () => {
  const pair = generateSigningKeyPair();

  it('sign signs v1a with a whsk_ secret key, and the receiver verifies it with the public key alone; the key is never printed', async ({ expect }) => {
    const run = await runCli(['sign', bodyFile, '--secret', pair.secretKey, '--id', 'msg_fixed', '--timestamp', '1796400000']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe(
      `webhook-id: msg_fixed\nwebhook-timestamp: 1796400000\nwebhook-signature: ${signWebhook({ id: 'msg_fixed', timestamp: 1796400000, body, secrets: pair.secretKey })}\n`,
    );
    expect(run.stdout).toMatch(/^webhook-signature: v1a,\S+$/m);
    expect(run.stdout).not.toContain(pair.secretKey.slice('whsk_'.length, 40));
    const headers = Object.fromEntries(run.stdout.trim().split('\n').map((line) => line.split(': ') as [string, string]));
    expect(verifyWebhookSignature({ body, headers }, { secrets: pair.publicKey, now: new Date(1796400000 * 1000) }).id).toBe('msg_fixed');
  });

  it('verify accepts a v1a signature with the whpk_ public key, refuses it with a whsec_ secret, and refuses a whsk_ key without echoing it', async ({ expect }) => {
    const signed = await runCli(['sign', bodyFile, '--secret', pair.secretKey, '--json']);
    const headersFile = join(work, 'v1a-headers.json');
    writeFileSync(headersFile, JSON.stringify((JSON.parse(signed.stdout) as { headers: Record<string, string> }).headers));
    const [valid, hmac, secretKey] = await Promise.all([
      runCli(['verify', bodyFile, '--headers', headersFile, '--secret', pair.publicKey, '--json']),
      runCli(['verify', bodyFile, '--headers', headersFile, '--secret', secret, '--json']),
      runCli(['verify', bodyFile, '--headers', headersFile, '--secret', pair.secretKey]),
    ]);
    expect(valid.code).toBe(0);
    expect(JSON.parse(valid.stdout)).toMatchObject({ valid: true, type: 'payment.succeeded' });
    expect(hmac.code).toBe(1);
    expect(JSON.parse(hmac.stdout)).toMatchObject({ valid: false, code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    expect(secretKey.code).toBe(1);
    expect(secretKey.stderr).toMatch(/SECRET_INVALID/);
    expect(secretKey.stdout + secretKey.stderr).not.toContain(pair.secretKey.slice('whsk_'.length, 40));
  });

  it('signs a move from v1 to v1a with both, and each receiver verifies with what it holds', async ({ expect }) => {
    const run = await runCli(['sign', bodyFile, '--secret', pair.secretKey, '--secret', secret, '--json']);
    expect(run.code).toBe(0);
    const { headers } = JSON.parse(run.stdout) as { headers: Record<string, string> };
    expect(headers['webhook-signature']!.split(' ').map((entry) => entry.split(',')[0])).toEqual(['v1a', 'v1']);
    const headersFile = join(work, 'v1-v1a-headers.json');
    writeFileSync(headersFile, JSON.stringify(headers));
    for (const key of [pair.publicKey, secret]) {
      expect((await runCli(['verify', bodyFile, '--headers', headersFile, '--secret', key])).code).toBe(0);
    }
  });

  it('--help of sign and verify names the v1a keys', async ({ expect }) => {
    const [sign, verify] = await Promise.all([runCli(['sign', '--help']), runCli(['verify', '--help'])]);
    expect(sign.stdout).toContain('--secret <whsec_…|whsk_…>');
    expect(verify.stdout).toContain('--secret <whsec_…|whpk_…>');
  });
});

describe.concurrent('verify', () => {
  it('accepts a delivery captured as a raw HTTP message', async ({ expect }) => {
    const run = await runCli(['verify', '--message', captureFile, '--secret', secret]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^valid {2}webhook-id evt_[0-9A-Z]{26} {2}signed \S+ {2}type payment\.succeeded\n$/);
  });

  it('refuses the capture with one byte of its body changed: WEBHOOK_NO_MATCHING_SIGNATURE, exit 1', async ({ expect }) => {
    const run = await runCli(['verify', '--message', tamperedFile, '--secret', secret, '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ valid: false, code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    const plain = await runCli(['verify', '--message', tamperedFile, '--secret', secret]);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/^invalid {2}WEBHOOK_NO_MATCHING_SIGNATURE: /);
  });

  it('accepts any of several secrets (a rotation) and refuses a wrong one', async ({ expect }) => {
    const other = generateSecret();
    expect((await runCli(['verify', '--message', captureFile, '--secret', other, '--secret', secret])).code).toBe(0);
    const wrong = await runCli(['verify', '--message', captureFile, '--secret', other, '--json']);
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ valid: false, code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
  });

  it('reads the body from stdin and the headers from a file in the form sign prints; an old capture needs --ignore-timestamp', async ({ expect }) => {
    const signed = await runCli(['sign', bodyFile, '--secret', secret, '--timestamp', String(Math.floor(Date.now() / 1000) - 3600)]);
    const headersFile = join(work, 'old-headers.txt');
    writeFileSync(headersFile, signed.stdout);
    const old = await runCli(['verify', '--headers', headersFile, '--secret', secret, '--json'], { input: body });
    expect(old.code).toBe(1);
    expect(JSON.parse(old.stdout)).toMatchObject({ valid: false, code: 'WEBHOOK_TIMESTAMP_TOO_OLD' });
    const ignored = await runCli(['verify', '-', '--headers', headersFile, '--secret', secret, '--ignore-timestamp', '--json'], { input: body });
    expect(ignored.code).toBe(0);
    expect(JSON.parse(ignored.stdout)).toMatchObject({ valid: true, type: 'payment.succeeded', ignoredTimestamp: true });
  });

  it('takes headers one by one with -H, and reports a missing one with WEBHOOK_MISSING_HEADER', async ({ expect }) => {
    const headers = JSON.parse((await runCli(['sign', bodyFile, '--secret', secret, '--json'])).stdout).headers as Record<string, string>;
    const all = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
    expect((await runCli(['verify', bodyFile, ...all, '--secret', secret])).code).toBe(0);
    const missing = await runCli(['verify', bodyFile, ...all.slice(0, 4), '--secret', secret, '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ valid: false, code: 'WEBHOOK_MISSING_HEADER' });
  });

  it('a file that is no HTTP message fails with CAPTURE_UNREADABLE, exit 1', async ({ expect }) => {
    const file = join(work, 'not-http.txt');
    writeFileSync(file, 'hello\r\n\r\nbody');
    const run = await runCli(['verify', '--message', file, '--secret', secret, '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ valid: false, code: 'CAPTURE_UNREADABLE' });
  });
});

// Each case is its own process: run side by side.
describe.concurrent('usage errors exit 2 and say what was expected and what came', () => {
  it.for<[string[], RegExp]>([
    [['frobnicate'], /Unknown command "frobnicate": expected one of listen, trigger, sign, verify, catalog, deliveries, send-test$/m],
    [['sign', bodyFile, '--secret', secret, '--nope'], /Unknown flag --nope for `sign`: expected one of --secret <value>, --id <value>/],
    [['sign', bodyFile], /Expected --secret <whsec_…> \(or WEBHOOK_SECRET in the environment\) for `sign`, got neither/],
    [['sign', bodyFile, '--secret'], /Expected a value after --secret, got none/],
    [['sign', bodyFile, '--secret', secret, '--timestamp', 'yesterday'], /Expected --timestamp to be unix seconds \(digits\), got "yesterday"/],
    [['sign', bodyFile, '--secret', secret, '--timestamp', '-5'], /Expected a value after --timestamp, got a flag \(a value that starts with "-" is given as --timestamp=<value>\)/],
    [['sign', bodyFile, '--secret', secret, '--curl', 'notaurl'], /Expected --curl to be an http\(s\) URL, got "notaurl"/],
    [['sign', bodyFile, '--secret', secret, '--curl', 'ftp://example.com/x'], /Expected --curl to be an http\(s\) URL, got "ftp:\/\/example.com\/x"/],
    [['sign', bodyFile, 'extra.json', '--secret', secret], /Expected at most <body-file> after `sign`, got the extra "extra.json"/],
    [['verify', bodyFile, '--secret', secret], /Expected the request headers \(--headers <file> or -H "name: value"\) or --message <http-file>, got neither/],
  ])('%j', async ([args, message], { expect }) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/Run `bookkeeper-webhooks( \w+)? --help`/);
    expect(run.stderr).not.toContain(secret);
  });

  it('--help prints the usage and exits 0, for the program and for each command', async ({ expect }) => {
    const runs = await Promise.all([['--help'], ['sign', '--help'], ['verify', '-h']].map((args) => runCli(args)));
    for (const run of runs) {
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: bookkeeper-webhooks /);
    }
  });

  it('a file that does not exist fails with exit 1 and Node\'s code once: "error ENOENT: no such file…"', async ({ expect }) => {
    const missing = join(work, 'no-such-body.json');
    const runs = await Promise.all([runCli(['sign', missing, '--secret', secret]), runCli(['verify', bodyFile, '--headers', missing, '--secret', secret])]);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`error ENOENT: no such file or directory, open '${missing}'\n`);
    }
  });

  it('a malformed secret fails with SECRET_INVALID, exit 1, without echoing it', async ({ expect }) => {
    const run = await runCli(['sign', bodyFile, '--secret', 'whsec_not*base64*at-all']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/SECRET_INVALID/);
    expect(run.stderr).not.toContain('not*base64*at-all');
  });
});
