/**
 * Sign and verify, 1 KB bodies: ours vs a bare node:crypto loop (the limit) and vs
 * the `standardwebhooks` package (the peer), interleaved rounds, medians.
 *
 * The limit does the same work with nothing around it — verify: read the three
 * headers, check the timestamp window, HMAC-SHA256 + base64, `timingSafeEqual`, and
 * `JSON.parse` of the body (verify returns the parsed event); sign: HMAC + base64 and
 * the `v1,` prefix. Each contestant consumes every result into a checksum.
 *
 * The limit computes the HMAC with `createHmac`, as a user would write it. A second bare
 * loop, in each figure's detail, builds it from two one-shot `hash()` calls, as our
 * signer does: ours against that loop is what the API itself costs.
 *
 * `v1a` (Ed25519) the same way, in rounds of its own: ours against a bare node:crypto
 * Ed25519 loop doing the same work (the signed content `id.timestamp.body`, base64 of the
 * signature; for verify the headers, the window, `crypto.verify` and `JSON.parse`), with our
 * HMAC verify and sign interleaved in the same rounds, so the cost of Ed25519 against HMAC is
 * read from one run.
 */
import { createHmac, createPrivateKey, createPublicKey, hash, sign as edSign, timingSafeEqual, verify as edVerify, type KeyObject } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook, verifyWebhookAsync } from '../../src/receiver/index.js';
import { generateSigningKeyPair } from '../../src/signing/generate-signing-key-pair.js';
import { generateSecret } from '../../src/signing/secret.js';
import { createSigningKeys, signatureHeader, signWebhook } from '../../src/signing/sign-webhook.js';
import type { BenchContext } from '../context.js';
import { interleave, medianOps, pairedRatio, type Contestant } from '../interleave.js';
import { signedSamples, type SignedSample } from '../payload.js';

const names = {
  verifyOurs: 'ours: verifyWebhook',
  verifyLimit: 'limit: node:crypto loop',
  verifyPeer: 'peer: standardwebhooks verify',
  verifyOneShot: 'limit: node:crypto loop, HMAC from two one-shot hash() calls',
  verifyAsyncOurs: 'ours: verifyWebhookAsync',
  verifyAsyncLimit: 'limit: Web Crypto loop',
  signOurs: 'ours: signWebhook',
  signHot: 'ours: signatureHeader (dispatcher path)',
  signLimit: 'limit: node:crypto loop (sign)',
  signOneShot: 'limit: node:crypto loop, HMAC from two one-shot hash() calls (sign)',
  signPeer: 'peer: standardwebhooks sign',
  v1aVerifyOurs: 'ours: verifyWebhook, v1a (whpk_ key)',
  v1aVerifyLimit: 'limit: node:crypto Ed25519 verify loop',
  v1aVerifyHmac: 'ours: verifyWebhook, v1 (whsec_ secret), same rounds',
  v1aVerifyAsyncOurs: 'ours: verifyWebhookAsync, v1a (Web Crypto Ed25519)',
  v1aSignOurs: 'ours: signWebhook, v1a (whsk_ key)',
  v1aSignHot: 'ours: signatureHeader, v1a (dispatcher path)',
  v1aSignLimit: 'limit: node:crypto Ed25519 sign loop',
  v1aSignHmac: 'ours: signatureHeader, v1 (dispatcher path), same rounds',
} as const;

function headerOf(headers: Record<string, string>, name: string): string {
  const value = headers[name];
  if (value === undefined) throw new Error(`missing ${name}`);
  return value;
}

/** The bare loops' header work: the three headers, the timestamp window, the signed message. */
function bareHeaders(sample: SignedSample, nowSeconds: number): { id: string; message: string; presented: string } {
  const headers = sample.headers;
  const id = headerOf(headers, 'webhook-id');
  const timestamp = Number(headerOf(headers, 'webhook-timestamp'));
  const presented = headerOf(headers, 'webhook-signature');
  if (Math.abs(nowSeconds - timestamp) > 300) throw new Error('timestamp out of tolerance');
  return { id, message: `${id}.${timestamp}.${sample.body}`, presented };
}

/** The bare loops' tail: `timingSafeEqual` against the presented `v1,` signature, then `JSON.parse`. */
function bareMatchAndParse(expected: string, presented: string, body: string, id: string): number {
  const a = Buffer.from(expected);
  const b = Buffer.from(presented.slice(3));
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new Error('signature mismatch');
  const event = JSON.parse(body) as { type: string; data: unknown };
  return id.length + event.type.length + (event.data === undefined ? 0 : 1);
}

/**
 * HMAC-SHA256 as RFC 2104 writes it, from two one-shot `hash()` calls over reused
 * buffers: the construction our signer uses, written out bare, for the second limit.
 * `createHmac` costs more to set up than SHA-256 costs to run on 1 KB here.
 */
function oneShotHmac(key: Buffer, maxMessageBytes: number): (message: string) => string {
  // Written bare: no long-key hashing and no room check per call, so both are settled here
  // (a message that did not fit would be cut short by `write` and hashed wrong).
  if (key.length > 64) throw new Error(`the bare one-shot HMAC takes keys of at most 64 bytes, got ${key.length}`);
  const inner = Buffer.alloc(64 + maxMessageBytes, 0x36);
  const outer = Buffer.alloc(64 + 32, 0x5c);
  for (let i = 0; i < key.length; i++) {
    inner[i]! ^= key[i]!;
    outer[i]! ^= key[i]!;
  }
  return (message) => {
    const length = 64 + inner.write(message, 64);
    outer.write(hash('sha256', inner.subarray(0, length), 'binary'), 64, 'latin1');
    return hash('sha256', outer, 'base64');
  };
}

export async function runSigning(context: BenchContext): Promise<void> {
  const sizes = context.sizes.signing;
  const secret = generateSecret();
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const nowSeconds = Math.floor(Date.now() / 1000);
  const samples = signedSamples(sizes.messages, secret, nowSeconds);
  const mask = samples.length - 1;
  if ((samples.length & mask) !== 0) throw new Error('signing.messages must be a power of two');
  const peer = new Webhook(secret);
  const dates = samples.map((sample) => new Date(sample.timestampSeconds * 1000));
  const keys = createSigningKeys([secret]);
  const subtle = globalThis.crypto.subtle;
  const cryptoKey = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const encoder = new TextEncoder();
  const mac = oneShotHmac(key, Math.max(...samples.map((x) => Buffer.byteLength(`${x.id}.${x.timestampSeconds}.${x.body}`))));

  /** The verify limit around an HMAC (base64 of `message`): everything verify does, bare. */
  const bareVerify = (hmac: (message: string) => string) => (ops: number) => {
    let sink = 0;
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < ops; i++) {
      const sample = samples[i & mask]!;
      const { id, message, presented } = bareHeaders(sample, now);
      sink += bareMatchAndParse(hmac(message), presented, sample.body, id);
    }
    return sink;
  };

  const verifyContestants: Contestant[] = [
    {
      name: names.verifyOurs,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          const event = verifyWebhook({ body: sample.body, headers: sample.headers }, { secrets: secret });
          sink += event.id.length + event.type.length + (event.data === undefined ? 0 : 1);
        }
        return sink;
      },
    },
    { name: names.verifyLimit, run: bareVerify((message) => createHmac('sha256', key).update(message).digest('base64')) },
    { name: names.verifyOneShot, run: bareVerify(mac) },
    {
      name: names.verifyPeer,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          const event = peer.verify(sample.body, sample.headers) as { id: string; type: string; data: unknown };
          sink += event.id.length + event.type.length + (event.data === undefined ? 0 : 1);
        }
        return sink;
      },
    },
    {
      name: names.verifyAsyncOurs,
      async run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          const event = await verifyWebhookAsync({ body: sample.body, headers: sample.headers }, { secrets: secret });
          sink += event.id.length + event.type.length + (event.data === undefined ? 0 : 1);
        }
        return sink;
      },
    },
    {
      name: names.verifyAsyncLimit,
      async run(ops) {
        let sink = 0;
        const now = Math.floor(Date.now() / 1000);
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          const { id, message, presented } = bareHeaders(sample, now);
          const mac = await subtle.sign('HMAC', cryptoKey, encoder.encode(message));
          sink += bareMatchAndParse(Buffer.from(mac).toString('base64'), presented, sample.body, id);
        }
        return sink;
      },
    },
  ];

  const signContestants: Contestant[] = [
    {
      name: names.signOurs,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          sink += signWebhook({ id: sample.id, timestamp: sample.timestampSeconds, body: sample.body, secrets: secret }).charCodeAt(10);
        }
        return sink;
      },
    },
    {
      name: names.signHot,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          sink += signatureHeader(keys, sample.id, sample.timestampSeconds, sample.body).charCodeAt(10);
        }
        return sink;
      },
    },
    {
      name: names.signLimit,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          const header = 'v1,' + createHmac('sha256', key).update(`${sample.id}.${sample.timestampSeconds}.${sample.body}`).digest('base64');
          sink += header.charCodeAt(10);
        }
        return sink;
      },
    },
    {
      name: names.signOneShot,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          const header = 'v1,' + mac(`${sample.id}.${sample.timestampSeconds}.${sample.body}`);
          sink += header.charCodeAt(10);
        }
        return sink;
      },
    },
    {
      name: names.signPeer,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          sink += peer.sign(sample.id, dates[i & mask]!, sample.body).charCodeAt(10);
        }
        return sink;
      },
    },
  ];

  // Every contestant must agree before anything is timed.
  const first = samples[0]!;
  const expectedHeader = first.headers['webhook-signature'];
  for (const header of [
    signWebhook({ id: first.id, timestamp: first.timestampSeconds, body: first.body, secrets: secret }),
    signatureHeader(keys, first.id, first.timestampSeconds, first.body),
    'v1,' + mac(`${first.id}.${first.timestampSeconds}.${first.body}`),
    peer.sign(first.id, dates[0]!, first.body),
  ]) {
    if (header !== expectedHeader) throw new Error(`signatures disagree: ${header} vs ${String(expectedHeader)}`);
  }

  const interleaveOptions = { rounds: sizes.rounds, batchMs: sizes.batchMs, warmupMs: sizes.warmupMs };
  context.log(`signing: verify, ${sizes.rounds} interleaved rounds`);
  const verify = await interleave(verifyContestants, interleaveOptions);
  context.log(`signing: sign, ${sizes.rounds} interleaved rounds`);
  const sign = await interleave(signContestants, interleaveOptions);
  const detail = (result: typeof verify, ...contestants: string[]) => ({
    rounds: sizes.rounds,
    payloadBytes: Buffer.byteLength(first.body),
    medianOpsPerSecond: Object.fromEntries(contestants.map((name) => [name, Math.round(medianOps(result, name))])),
    batchOps: Object.fromEntries(contestants.map((name) => [name, result.batchOps.get(name)])),
    checksum: result.checksum,
  });

  context.add({
    id: 'verify',
    section: 'signing',
    title: 'verifyWebhook (sync, node:crypto), 1 KB body',
    unit: 'ops/s',
    better: 'higher',
    value: medianOps(verify, names.verifyOurs),
    limit: {
      label: 'bare node:crypto loop',
      value: medianOps(verify, names.verifyLimit),
      ratio: pairedRatio(verify, names.verifyOurs, names.verifyLimit),
      target: { on: 'ratio', op: '>=', value: 0.8 },
    },
    peer: {
      label: 'standardwebhooks',
      value: medianOps(verify, names.verifyPeer),
      ratio: pairedRatio(verify, names.verifyOurs, names.verifyPeer),
      target: { on: 'ratio', op: '>=', value: 3.5 },
    },
    detail: {
      ...detail(verify, names.verifyOurs, names.verifyLimit, names.verifyOneShot, names.verifyPeer),
      limitVsPeer: pairedRatio(verify, names.verifyLimit, names.verifyPeer),
      // The HMAC our verifier uses, in a bare loop: ours against it is the cost of the API.
      oursVsOneShotLoop: pairedRatio(verify, names.verifyOurs, names.verifyOneShot),
    },
  });
  context.add({
    id: 'verify.async',
    section: 'signing',
    title: 'verifyWebhookAsync (Web Crypto), 1 KB body',
    unit: 'ops/s',
    better: 'higher',
    value: medianOps(verify, names.verifyAsyncOurs),
    limit: {
      label: 'bare Web Crypto loop',
      value: medianOps(verify, names.verifyAsyncLimit),
      ratio: pairedRatio(verify, names.verifyAsyncOurs, names.verifyAsyncLimit),
    },
    peer: {
      label: 'standardwebhooks',
      value: medianOps(verify, names.verifyPeer),
      ratio: pairedRatio(verify, names.verifyAsyncOurs, names.verifyPeer),
    },
    note: 'no target; one await per verify, sequential',
    detail: detail(verify, names.verifyAsyncOurs, names.verifyAsyncLimit),
  });
  context.add({
    id: 'sign',
    section: 'signing',
    title: 'signWebhook (public API: validates input, decodes the secret), 1 KB body',
    unit: 'ops/s',
    better: 'higher',
    value: medianOps(sign, names.signOurs),
    limit: {
      label: 'bare node:crypto loop',
      value: medianOps(sign, names.signLimit),
      ratio: pairedRatio(sign, names.signOurs, names.signLimit),
      target: { on: 'ratio', op: '>=', value: 0.8 },
    },
    peer: {
      label: 'standardwebhooks',
      value: medianOps(sign, names.signPeer),
      ratio: pairedRatio(sign, names.signOurs, names.signPeer),
    },
    detail: {
      ...detail(sign, names.signOurs, names.signLimit, names.signOneShot, names.signPeer),
      oursVsOneShotLoop: pairedRatio(sign, names.signOurs, names.signOneShot),
    },
  });
  context.add({
    id: 'sign.dispatcher',
    section: 'signing',
    title: 'signatureHeader (what the dispatcher calls: keys decoded once), 1 KB body',
    unit: 'ops/s',
    better: 'higher',
    value: medianOps(sign, names.signHot),
    limit: {
      label: 'bare node:crypto loop',
      value: medianOps(sign, names.signLimit),
      ratio: pairedRatio(sign, names.signHot, names.signLimit),
    },
    peer: {
      label: 'standardwebhooks',
      value: medianOps(sign, names.signPeer),
      ratio: pairedRatio(sign, names.signHot, names.signPeer),
    },
    note: 'no target; internal hot path, for diagnosis',
    detail: detail(sign, names.signHot),
  });

  await runV1a(context, { samples, mask, secret, nowSeconds, interleaveOptions });
}

/** The v1a (Ed25519) figures, against a bare node:crypto Ed25519 loop, with our HMAC in the same rounds. */
async function runV1a(
  context: BenchContext,
  input: { samples: SignedSample[]; mask: number; secret: string; nowSeconds: number; interleaveOptions: { rounds: number; batchMs: number; warmupMs: number } },
): Promise<void> {
  const { samples, mask, secret, nowSeconds, interleaveOptions } = input;
  const pair = generateSigningKeyPair();
  const pairBytes = Buffer.from(pair.secretKey.slice('whsk_'.length), 'base64');
  const privateKey: KeyObject = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), pairBytes.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
  const publicKey: KeyObject = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pairBytes.subarray(32)]), format: 'der', type: 'spki' });
  // The same messages, signed v1a (bare), for the verifiers.
  const v1aSamples: SignedSample[] = samples.map((sample) => ({
    ...sample,
    headers: {
      ...sample.headers,
      'webhook-signature': 'v1a,' + edSign(null, Buffer.from(`${sample.id}.${sample.timestampSeconds}.${sample.body}`), privateKey).toString('base64'),
    },
  }));
  const v1aKeys = createSigningKeys([pair.secretKey]);
  const hmacKeys = createSigningKeys([secret]);

  const verifyContestants: Contestant[] = [
    {
      name: names.v1aVerifyOurs,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = v1aSamples[i & mask]!;
          const event = verifyWebhook({ body: sample.body, headers: sample.headers }, { secrets: pair.publicKey });
          sink += event.id.length + event.type.length + (event.data === undefined ? 0 : 1);
        }
        return sink;
      },
    },
    {
      name: names.v1aVerifyLimit,
      run(ops) {
        let sink = 0;
        const now = Math.floor(Date.now() / 1000);
        for (let i = 0; i < ops; i++) {
          const sample = v1aSamples[i & mask]!;
          const { id, message, presented } = bareHeaders(sample, now);
          if (!presented.startsWith('v1a,') || !edVerify(null, Buffer.from(message), publicKey, Buffer.from(presented.slice(4), 'base64'))) throw new Error('signature mismatch');
          const event = JSON.parse(sample.body) as { type: string; data: unknown };
          sink += id.length + event.type.length + (event.data === undefined ? 0 : 1);
        }
        return sink;
      },
    },
    {
      name: names.v1aVerifyHmac,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          const event = verifyWebhook({ body: sample.body, headers: sample.headers }, { secrets: secret });
          sink += event.id.length + event.type.length + (event.data === undefined ? 0 : 1);
        }
        return sink;
      },
    },
    {
      name: names.v1aVerifyAsyncOurs,
      async run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = v1aSamples[i & mask]!;
          const event = await verifyWebhookAsync({ body: sample.body, headers: sample.headers }, { secrets: pair.publicKey });
          sink += event.id.length + event.type.length + (event.data === undefined ? 0 : 1);
        }
        return sink;
      },
    },
  ];
  const signContestants: Contestant[] = [
    {
      name: names.v1aSignOurs,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          sink += signWebhook({ id: sample.id, timestamp: sample.timestampSeconds, body: sample.body, secrets: pair.secretKey }).charCodeAt(10);
        }
        return sink;
      },
    },
    {
      name: names.v1aSignHot,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          sink += signatureHeader(v1aKeys, sample.id, sample.timestampSeconds, sample.body).charCodeAt(10);
        }
        return sink;
      },
    },
    {
      name: names.v1aSignLimit,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          const header = 'v1a,' + edSign(null, Buffer.from(`${sample.id}.${sample.timestampSeconds}.${sample.body}`), privateKey).toString('base64');
          sink += header.charCodeAt(10);
        }
        return sink;
      },
    },
    {
      name: names.v1aSignHmac,
      run(ops) {
        let sink = 0;
        for (let i = 0; i < ops; i++) {
          const sample = samples[i & mask]!;
          sink += signatureHeader(hmacKeys, sample.id, sample.timestampSeconds, sample.body).charCodeAt(10);
        }
        return sink;
      },
    },
  ];

  // Ed25519 is deterministic: ours and the bare loop must write the same header before anything is timed.
  const first = v1aSamples[0]!;
  for (const header of [
    signWebhook({ id: first.id, timestamp: first.timestampSeconds, body: first.body, secrets: pair.secretKey }),
    signatureHeader(v1aKeys, first.id, first.timestampSeconds, first.body),
  ]) {
    if (header !== first.headers['webhook-signature']) throw new Error(`v1a signatures disagree: ${header} vs ${String(first.headers['webhook-signature'])}`);
  }
  if (Math.abs(Math.floor(Date.now() / 1000) - nowSeconds) > 300) throw new Error('the samples are out of the tolerance window');

  context.log(`signing: v1a verify, ${interleaveOptions.rounds} interleaved rounds`);
  const verify = await interleave(verifyContestants, interleaveOptions);
  context.log(`signing: v1a sign, ${interleaveOptions.rounds} interleaved rounds`);
  const sign = await interleave(signContestants, interleaveOptions);
  const detail = (result: typeof verify, ...contestants: string[]) => ({
    rounds: interleaveOptions.rounds,
    payloadBytes: Buffer.byteLength(first.body),
    medianOpsPerSecond: Object.fromEntries(contestants.map((name) => [name, Math.round(medianOps(result, name))])),
    batchOps: Object.fromEntries(contestants.map((name) => [name, result.batchOps.get(name)])),
    checksum: result.checksum,
  });
  const microseconds = (result: typeof verify, name: string) => Math.round((1e6 / medianOps(result, name)) * 10) / 10;

  context.add({
    id: 'verify.v1a',
    section: 'signing',
    title: 'verifyWebhook with a v1a (Ed25519) public key, 1 KB body',
    unit: 'ops/s',
    better: 'higher',
    value: medianOps(verify, names.v1aVerifyOurs),
    limit: {
      label: 'bare node:crypto Ed25519 loop',
      value: medianOps(verify, names.v1aVerifyLimit),
      ratio: pairedRatio(verify, names.v1aVerifyOurs, names.v1aVerifyLimit),
      target: { on: 'ratio', op: '>=', value: 0.8 },
    },
    note: 'HMAC (v1) verify in the same rounds: see detail',
    detail: {
      ...detail(verify, names.v1aVerifyOurs, names.v1aVerifyLimit, names.v1aVerifyHmac, names.v1aVerifyAsyncOurs),
      microsecondsPerVerify: { v1a: microseconds(verify, names.v1aVerifyOurs), v1: microseconds(verify, names.v1aVerifyHmac) },
      // How many v1 verifies one v1a verify costs.
      hmacVsEd25519: pairedRatio(verify, names.v1aVerifyHmac, names.v1aVerifyOurs),
      asyncVsSync: pairedRatio(verify, names.v1aVerifyAsyncOurs, names.v1aVerifyOurs),
    },
  });
  context.add({
    id: 'sign.v1a',
    section: 'signing',
    title: 'signWebhook with a v1a (Ed25519) secret key, 1 KB body',
    unit: 'ops/s',
    better: 'higher',
    value: medianOps(sign, names.v1aSignOurs),
    limit: {
      label: 'bare node:crypto Ed25519 loop',
      value: medianOps(sign, names.v1aSignLimit),
      ratio: pairedRatio(sign, names.v1aSignOurs, names.v1aSignLimit),
      target: { on: 'ratio', op: '>=', value: 0.8 },
    },
    note: 'HMAC (v1) sign in the same rounds: see detail',
    detail: {
      ...detail(sign, names.v1aSignOurs, names.v1aSignHot, names.v1aSignLimit, names.v1aSignHmac),
      microsecondsPerSign: { v1a: microseconds(sign, names.v1aSignHot), v1: microseconds(sign, names.v1aSignHmac) },
      dispatcherVsLimit: pairedRatio(sign, names.v1aSignHot, names.v1aSignLimit),
      hmacVsEd25519: pairedRatio(sign, names.v1aSignHmac, names.v1aSignHot),
    },
  });
}
