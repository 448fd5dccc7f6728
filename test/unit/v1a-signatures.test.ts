/**
 * Standard Webhooks `v1a` (Ed25519): the Svix known answer signed and verified by every
 * path, key pairs, the refusals of malformed keys (each with its code), and interop with an
 * independent Ed25519 implementation (`@noble/ed25519`) both ways.
 */
import * as ed from '@noble/ed25519';
import { describe, expect, it } from 'vitest';
import { createMemoryStorage, createWebhooks, generateSigningKeyPair, signWebhook } from '../../src/index.js';
import { verifyWebhookSignature, verifyWebhookSignatureAsync, pullMissed } from '../../src/receiver/index.js';
import { createSigningKeys, signatureHeader } from '../../src/signing/sign-webhook.js';
import { MAX_V1A_SIGNATURES } from '../../src/signing/verify-signature.js';
import { rejectionOf, thrownBy } from '../support/rejections.js';

const golden = {
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  secretKey: 'whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==',
  publicKey: 'whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=',
  signature: 'v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==',
};
const now = new Date(golden.timestamp * 1000);
const hmacSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function message(signature: string, body: string | Uint8Array = golden.body) {
  return { body, headers: { 'webhook-id': golden.id, 'webhook-timestamp': String(golden.timestamp), 'webhook-signature': signature } };
}

const verifiers = [
  { name: 'verifyWebhookSignature', verify: (m: ReturnType<typeof message>, secrets: string | string[]) => verifyWebhookSignature(m, { secrets, now }) },
  { name: 'verifyWebhookSignatureAsync', verify: (m: ReturnType<typeof message>, secrets: string | string[]) => verifyWebhookSignatureAsync(m, { secrets, now }) },
];

/** What a call did: its result, or the code (and field) of what it threw. */
async function outcome(run: () => unknown): Promise<unknown> {
  try {
    return { value: await run() };
  } catch (error) {
    const { code, field } = error as { code?: string; field?: string };
    return field === undefined ? { code } : { code, field };
  }
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));

describe('the Svix v1a known answer', () => {
  it('is what signWebhook signs with the secret key, byte for byte', () => {
    expect(signWebhook({ id: golden.id, timestamp: golden.timestamp, body: golden.body, secrets: golden.secretKey })).toBe(golden.signature);
    expect(signWebhook({ id: golden.id, timestamp: golden.timestamp, body: new TextEncoder().encode(golden.body), secrets: [golden.secretKey] })).toBe(golden.signature);
  });

  it('is what the dispatcher path signs (createSigningKeys, signatureHeader), beside a v1 signature in a move from v1', () => {
    expect(signatureHeader(createSigningKeys([golden.secretKey]), golden.id, golden.timestamp, golden.body)).toBe(golden.signature);
    expect(signatureHeader(createSigningKeys([golden.secretKey, hmacSecret]), golden.id, golden.timestamp, golden.body)).toBe(
      `${golden.signature} v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=`,
    );
  });

  it.each(verifiers)('verifies with the public key in $name, from a string or bytes', async ({ verify }) => {
    expect(await verify(message(golden.signature), golden.publicKey)).toEqual({ id: golden.id, timestamp: golden.timestamp, body: golden.body });
    expect(await verify(message(golden.signature, new TextEncoder().encode(golden.body)), [hmacSecret, golden.publicKey])).toMatchObject({ body: golden.body });
  });

  it.each(verifiers)('is refused by $name against a v1 secret only, a v1 signature against a public key only, and a tampered body', async ({ verify }) => {
    expect(await outcome(() => verify(message(golden.signature), hmacSecret))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    expect(await outcome(() => verify(message('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='), golden.publicKey))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    expect(await outcome(() => verify(message(golden.signature, '{"test": 2432232315}'), golden.publicKey))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    expect(await outcome(() => verify(message(golden.signature.slice(0, -4)), golden.publicKey))).toEqual({ code: 'WEBHOOK_INVALID_SIGNATURE' });
  });

  it.each(verifiers)('checks no more than MAX_V1A_SIGNATURES v1a entries of one header in $name', async ({ verify }) => {
    const forged = `v1a,${b64(new Uint8Array(64).fill(7))}`;
    const stuffed = [...Array.from({ length: MAX_V1A_SIGNATURES }, () => forged), golden.signature].join(' ');
    expect(await outcome(() => verify(message(stuffed), golden.publicKey))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
    const within = [...Array.from({ length: MAX_V1A_SIGNATURES - 1 }, () => forged), golden.signature].join(' ');
    expect(await verify(message(within), golden.publicKey)).toMatchObject({ id: golden.id });
  });
});

describe('generateSigningKeyPair', () => {
  it('makes a whsk_ secret key (seed, then public key) whose whpk_ public key verifies what it signs', async () => {
    const { secretKey, publicKey } = generateSigningKeyPair();
    expect(secretKey).toMatch(/^whsk_[A-Za-z0-9+/]{86}==$/);
    expect(publicKey).toMatch(/^whpk_[A-Za-z0-9+/]{43}=$/);
    const both = unb64(secretKey.slice(5));
    expect(b64(both.subarray(32))).toBe(publicKey.slice(5));
    expect(b64(await ed.getPublicKeyAsync(both.subarray(0, 32)))).toBe(publicKey.slice(5));
    expect(generateSigningKeyPair().secretKey).not.toBe(secretKey);
  });
});

describe('interop with @noble/ed25519', () => {
  it('verifies our v1a signatures', async () => {
    const { secretKey, publicKey } = generateSigningKeyPair();
    const body = JSON.stringify({ type: 'payment.succeeded', data: { amountMinor: 1230, note: 'Zürich — 請求書' } });
    const header = signWebhook({ id: 'msg_1', timestamp: golden.timestamp, body, secrets: secretKey });
    const signature = unb64(header.slice('v1a,'.length));
    const content = new TextEncoder().encode(`msg_1.${golden.timestamp}.${body}`);
    expect(await ed.verifyAsync(signature, content, unb64(publicKey.slice(5)))).toBe(true);
    expect(await ed.verifyAsync(signature, new TextEncoder().encode(`msg_1.${golden.timestamp + 1}.${body}`), unb64(publicKey.slice(5)))).toBe(false);
    // The known answer's key derives the same signature in both.
    const seed = unb64(golden.secretKey.slice(5)).subarray(0, 32);
    expect(`v1a,${b64(await ed.signAsync(new TextEncoder().encode(`${golden.id}.${golden.timestamp}.${golden.body}`), seed))}`).toBe(golden.signature);
  });

  it.each(verifiers)('has its signatures verified by $name', async ({ verify }) => {
    const seed = ed.utils.randomSecretKey();
    const publicKey = `whpk_${b64(await ed.getPublicKeyAsync(seed))}`;
    const body = '{"type":"invoice.paid","data":{"invoiceId":"inv_1"}}';
    const signature = `v1a,${b64(await ed.signAsync(new TextEncoder().encode(`${golden.id}.${golden.timestamp}.${body}`), seed))}`;
    expect(await verify(message(signature, body), publicKey)).toEqual({ id: golden.id, timestamp: golden.timestamp, body });
    const other = `whpk_${b64(await ed.getPublicKeyAsync(ed.utils.randomSecretKey()))}`;
    expect(await outcome(() => verify(message(signature, body), other))).toEqual({ code: 'WEBHOOK_NO_MATCHING_SIGNATURE' });
  });
});

describe('malformed keys', () => {
  const mismatched = `whsk_${b64(new Uint8Array([...unb64(golden.secretKey.slice(5)).subarray(0, 32), ...unb64(generateSigningKeyPair().publicKey.slice(5))]))}`;
  const short = `whsk_${b64(unb64(golden.secretKey.slice(5)).subarray(0, 48))}`;
  const badBase64 = `whsk_${golden.secretKey.slice(5, 60)}!${golden.secretKey.slice(61)}`;

  it.each([
    ['a secret key of 48 bytes', short],
    ['a secret key that is not base64', badBase64],
    ['a secret key whose halves do not belong together', mismatched],
    ['a public key, which cannot sign', golden.publicKey],
  ])('refuses %s to sign with SECRET_INVALID', (_label, secret) => {
    expect(() => signWebhook({ id: golden.id, timestamp: golden.timestamp, body: golden.body, secrets: secret })).toThrow(
      expect.objectContaining({ name: 'ConfigError', code: 'SECRET_INVALID', field: 'secrets' }),
    );
    expect(() => createSigningKeys([hmacSecret, secret])).toThrow(expect.objectContaining({ code: 'SECRET_INVALID', field: 'secrets[1]' }));
  });

  it.each(verifiers)('refuses in $name a whsk_ secret key (pass the public key), and public keys of the wrong length or not base64', async ({ verify }) => {
    const refused = (secrets: string | string[]) => outcome(() => verify(message(golden.signature), secrets));
    expect(await refused(golden.secretKey)).toEqual({ code: 'SECRET_INVALID', field: 'secrets' });
    expect(await refused([golden.publicKey, golden.secretKey])).toEqual({ code: 'SECRET_INVALID', field: 'secrets[1]' });
    expect(await refused(`whpk_${b64(new Uint8Array(31))}`)).toEqual({ code: 'SECRET_INVALID', field: 'secrets' });
    expect(await refused('whpk_not base64!')).toEqual({ code: 'SECRET_INVALID', field: 'secrets' });
  });

  it('names the public key in the message refusing a secret key, and never shows the secret key', () => {
    const error = thrownBy(() => verifyWebhookSignature(message(golden.signature), { secrets: golden.secretKey, now })) as Error;
    expect(error.message).toContain('whpk_');
    expect(error.message).not.toContain(golden.secretKey.slice(5, 30));
  });

  it('refuses a whsk_ secret key in pullMissed’s secret too', async () => {
    const error = await rejectionOf(pullMissed({ feedUrl: 'https://bookkeeper.example/feed/events', subscriptionId: 'sub_1', secret: golden.secretKey, onEvent: () => undefined }));
    expect(error).toMatchObject({ code: 'SECRET_INVALID', field: 'secret' });
  });

  it.each([
    ['a secret key of 48 bytes', { secret: short }],
    ['a secret key that is not base64', { secret: badBase64 }],
    ['a secret key whose halves do not belong together', { secret: mismatched }],
    ['a public key given as the secret', { secret: golden.publicKey }],
    ["a whsec_ secret with signing: 'v1a'", { secret: hmacSecret + 'AAAAAAAAAAAAAAAAAAAAAA', signing: 'v1a' as const }],
    ["a whsk_ secret key with signing: 'v1'", { secret: golden.secretKey, signing: 'v1' as const }],
  ])('refuses %s at subscriptions.create and rotateSecret with INPUT_INVALID on `secret`', async (_label, input) => {
    const webhooks = createWebhooks({ storage: createMemoryStorage() });
    try {
      await expect(webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], ...input })).rejects.toMatchObject({
        name: 'ValidationError',
        code: 'INPUT_INVALID',
        field: 'secret',
      });
      const { id } = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'] });
      await expect(webhooks.subscriptions.rotateSecret(id, input)).rejects.toMatchObject({ code: 'INPUT_INVALID', field: 'secret' });
      expect((await webhooks.subscriptions.get(id))!.signing).toBe('v1');
    } finally {
      await webhooks.stop();
    }
  });

  it('takes a caller’s whsk_ secret key at create and returns its public key', async () => {
    const webhooks = createWebhooks({ storage: createMemoryStorage() });
    try {
      const created = await webhooks.subscriptions.create({ url: 'https://erp.example.com/hooks', eventTypes: ['*'], secret: golden.secretKey });
      expect(created).toMatchObject({ secret: golden.secretKey, publicKey: golden.publicKey, signing: 'v1a', publicKeys: [golden.publicKey] });
      // A rotation keeps the scheme unless told otherwise.
      const rotated = await webhooks.subscriptions.rotateSecret(created.id, { overlapMs: 0 });
      expect(rotated).toMatchObject({ signing: 'v1a', publicKeys: [rotated.publicKey] });
      const back = await webhooks.subscriptions.rotateSecret(created.id, { signing: 'v1', overlapMs: 0 });
      expect(back.secret).toMatch(/^whsec_/);
      expect(back).toMatchObject({ signing: 'v1', publicKeys: [] });
      expect(back.publicKey).toBeUndefined();
    } finally {
      await webhooks.stop();
    }
  });
});
