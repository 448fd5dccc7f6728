/**
 * Writes `test-vectors.json`, the signature test vectors shipped in the package
 * (`@bookkeeper/webhooks/test-vectors.json`), for consumers who verify Bookkeeper's
 * webhooks with something else than this library: another language's Standard Webhooks
 * library, or their own code. `npx tsx scripts/test-vectors.ts` rewrites the file;
 * `--check` only reports whether it is out of date (exit code 1).
 *
 * The vectors are the Standard Webhooks spec's known answers (test/fixtures, a copy of the
 * project's shared vectors) and messages signed here with `signWebhook`, in the envelope
 * that `publish` writes. Every input is fixed (secrets derived from labels, ids, times),
 * so a second run writes the same bytes. test/unit/test-vectors.test.ts verifies every
 * vector with the receiver and checks that the file is what this script writes.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envelopeEnvironmentJson, envelopeJson, envelopeTypeJson } from '../src/envelope-json.js';
import { signWebhook, type SignatureVerificationErrorCode } from '../src/index.js';
import specVectors from '../test/fixtures/standard-webhooks-vectors.json' with { type: 'json' };

/** The repository root. */
const root = join(import.meta.dirname, '..');

/** Where the file is written: the package root, listed in package.json `files` and `exports`. */
export const testVectorsPath = join(root, 'test-vectors.json');

/** The three headers a vector's request carries; a missing one is absent. */
export interface VectorHeaders {
  'webhook-id'?: string;
  'webhook-timestamp'?: string;
  'webhook-signature'?: string;
}

/** One request to verify, and what a verifier must conclude. */
export interface TestVector {
  /** A stable name, for test output. */
  name: string;
  /** What the vector shows, and for a bad one, what is wrong with it. */
  description: string;
  /** The secrets the receiver holds; a signature by any of them is accepted. */
  secrets: string[];
  /** The request's headers, lower-case names. */
  headers: VectorHeaders;
  /** The raw body, exactly as sent (UTF-8). */
  body: string;
  /** The receiver's clock when it verifies, unix seconds: verify with this as "now". */
  now: number;
  /** The environment the receiver accepts (checked on the signed envelope), when the vector tests it. */
  environment?: string;
}

/** A request a verifier must refuse, with the code this library refuses it with. */
export interface InvalidTestVector extends TestVector {
  /** This library's `SignatureVerificationError` code; other verifiers only need to refuse. */
  error: SignatureVerificationErrorCode;
}

/** The shipped file. */
export interface TestVectors {
  about: string;
  scheme: string;
  toleranceSeconds: number;
  fields: Record<string, string>;
  valid: TestVector[];
  invalid: InvalidTestVector[];
}

/** A deterministic 32-byte secret for a label: the shape `subscriptions.create` returns, never a real one. */
function secretFor(label: string): string {
  return `whsec_${createHash('sha256').update(`@bookkeeper/webhooks test vector: ${label}`).digest('base64')}`;
}

/**
 * A deterministic `v1a` key pair for a label (the seed derived from it), in the form
 * `generateSigningKeyPair` returns: never a real one.
 */
function keyPairFor(label: string): { secretKey: string; publicKey: string } {
  const seed = createHash('sha256').update(`@bookkeeper/webhooks test vector key: ${label}`).digest();
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const raw = Buffer.from(createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' }).x!, 'base64url');
  return { secretKey: `whsk_${Buffer.concat([seed, raw]).toString('base64')}`, publicKey: `whpk_${raw.toString('base64')}` };
}

const TOLERANCE_SECONDS = 300;

// 2026-03-31T09:15:00Z: the vectors' signing time.
const SIGNED_AT = 1_774_948_500;
const EVENT_ID = 'evt_01KN1JSGH0QNA3KRQZ2ESVER9G';
const NEW_SECRET = secretFor('current secret');
const OLD_SECRET = secretFor('previous secret');
const OTHER_SECRET = secretFor('another subscription');
const NEW_KEY = keyPairFor('current key');
const OLD_KEY = keyPairFor('previous key');
const OTHER_KEY = keyPairFor('another subscription');

/** The `v1a` known answer of Svix's server tests and the Standard Webhooks spec's example header. */
const SVIX_V1A = {
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  publicKey: 'whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=',
  signature: 'v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==',
};

/** The envelope `publish` writes, byte for byte (`envelopeJson`). */
function envelope(type: string, environment: string | null, data: unknown): string {
  const timestamp = new Date(SIGNED_AT * 1000 - 1_250).toISOString();
  return envelopeJson(EVENT_ID, type, envelopeTypeJson(type), timestamp, environment, envelopeEnvironmentJson(environment), null, null, data);
}

const payment = {
  paymentId: 'pay_8Hq2LmT4',
  customerId: 'cus_17Fz9Qa',
  invoiceId: 'inv_2026_0412',
  amount: { amount: 12_300, currency: 'EUR' },
  method: 'bank_transfer',
  occurredAt: '2026-03-31T09:14:57.000Z',
};
const paymentBody = envelope('payment.succeeded', null, payment);
const liveBody = envelope('payment.succeeded', 'live', payment);
const testBody = envelope('payment.succeeded', 'test', payment);
const nonAsciiBody = envelope('payment.succeeded', 'live', {
  ...payment,
  reference: 'Überweisung Zürich — 12,30 € — 請求書 🧾',
});

function headers(id: string, timestamp: number | string, signature: string): VectorHeaders {
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
}

/** A message signed here, as the dispatcher signs each attempt: one signature per active secret, newest first. */
function signed(body: string, secrets: string[]): VectorHeaders {
  return headers(EVENT_ID, SIGNED_AT, signWebhook({ id: EVENT_ID, timestamp: SIGNED_AT, body, secrets }));
}

function without(all: VectorHeaders, name: keyof VectorHeaders): VectorHeaders {
  const { [name]: _dropped, ...rest } = all;
  return rest;
}

/** Builds the vectors. */
export function buildTestVectors(): TestVectors {
  const spec = specVectors.vectors.map((vector, index) => ({
    name: `standard-webhooks spec vector ${index + 1}`,
    description: `A known answer from the Standard Webhooks reference libraries' tests${vector.note === undefined ? '' : ` (${vector.note})`}.`,
    secrets: [vector.secret],
    headers: headers(vector.id, vector.timestamp, vector.signature),
    body: vector.payload,
    now: vector.timestamp,
  }));
  const first = specVectors.vectors[0]!;
  const [decoyV1, decoyV2] = specVectors.multiSignatureDecoys;
  const firstBase64 = first.signature.slice('v1,'.length);
  const rotation = signed(paymentBody, [NEW_SECRET, OLD_SECRET]);

  const valid: TestVector[] = [
    ...spec,
    {
      name: 'several signatures, the matching one last',
      description:
        'Spec vector 1 with a v1 signature that matches nothing and a v2 one placed before the valid signature. A verifier must try every v1 entry, the last included, and skip versions it does not know.',
      secrets: [first.secret],
      headers: headers(first.id, first.timestamp, `${decoyV1} ${decoyV2} ${first.signature}`),
      body: first.payload,
      now: first.timestamp,
    },
    {
      name: 'several signatures, the matching one first',
      description: 'Spec vector 1 with its valid signature before two that do not match.',
      secrets: [first.secret],
      headers: headers(first.id, first.timestamp, `${first.signature} ${decoyV1} ${decoyV2}`),
      body: first.payload,
      now: first.timestamp,
    },
    {
      name: 'a Bookkeeper event',
      description: 'A payment.succeeded envelope { id, type, timestamp, data } as Bookkeeper sends it, signed with a 32-byte whsec_ secret.',
      secrets: [NEW_SECRET],
      headers: signed(paymentBody, [NEW_SECRET]),
      body: paymentBody,
      now: SIGNED_AT,
    },
    {
      name: 'an event of the expected environment',
      description: 'An envelope from an instance with environment "live", received by an endpoint that accepts only "live" events.',
      secrets: [NEW_SECRET],
      headers: signed(liveBody, [NEW_SECRET]),
      body: liveBody,
      now: SIGNED_AT,
      environment: 'live',
    },
    {
      name: 'non-ASCII text in the body',
      description:
        'Umlauts, a euro sign, CJK and an emoji, sent as UTF-8: the signature covers the bytes. A verifier that reads the body in another charset, or escapes it again, fails here.',
      secrets: [NEW_SECRET],
      headers: signed(nonAsciiBody, [NEW_SECRET]),
      body: nonAsciiBody,
      now: SIGNED_AT,
      environment: 'live',
    },
    {
      name: 'during a rotation, verified with the previous secret',
      description:
        'While a rotation overlaps, Bookkeeper signs with the new and the previous secret, newest first. A receiver that still holds only the previous secret must accept it: its signature is the last one.',
      secrets: [OLD_SECRET],
      headers: rotation,
      body: paymentBody,
      now: SIGNED_AT,
    },
    {
      name: 'during a rotation, verified with the new secret',
      description: 'The same rotation message, verified by a receiver that already holds the new secret.',
      secrets: [NEW_SECRET],
      headers: rotation,
      body: paymentBody,
      now: SIGNED_AT,
    },
    {
      name: 'a receiver holding two secrets',
      description: 'Signed with the new secret only; the receiver tries the previous secret and then the new one.',
      secrets: [OLD_SECRET, NEW_SECRET],
      headers: signed(paymentBody, [NEW_SECRET]),
      body: paymentBody,
      now: SIGNED_AT,
    },
    {
      name: 'five minutes old',
      description: `Received ${TOLERANCE_SECONDS} s after it was signed: at the edge of the tolerance, still accepted.`,
      secrets: [NEW_SECRET],
      headers: signed(paymentBody, [NEW_SECRET]),
      body: paymentBody,
      now: SIGNED_AT + TOLERANCE_SECONDS,
    },
    {
      name: 'five minutes ahead',
      description: `Received by a clock ${TOLERANCE_SECONDS} s behind the sender's: at the edge of the tolerance, still accepted.`,
      secrets: [NEW_SECRET],
      headers: signed(paymentBody, [NEW_SECRET]),
      body: paymentBody,
      now: SIGNED_AT - TOLERANCE_SECONDS,
    },
    {
      name: 'v1a: the Svix known answer',
      description: 'An Ed25519 (v1a) signature from Svix\'s server tests, checked with the public key: the scheme follows the key\'s whpk_ prefix.',
      secrets: [SVIX_V1A.publicKey],
      headers: headers(SVIX_V1A.id, SVIX_V1A.timestamp, SVIX_V1A.signature),
      body: SVIX_V1A.body,
      now: SVIX_V1A.timestamp,
    },
    {
      name: 'v1a: a rotation, checked with the new public key',
      description: 'Signed during a v1a rotation by the new and the previous secret key (newest first); the receiver holds the new public key.',
      secrets: [NEW_KEY.publicKey],
      headers: signed(paymentBody, [NEW_KEY.secretKey, OLD_KEY.secretKey]),
      body: paymentBody,
      now: SIGNED_AT,
    },
    {
      name: 'v1a: a rotation, checked with the previous public key',
      description: 'The same request, at a receiver that has not switched to the new public key yet.',
      secrets: [OLD_KEY.publicKey],
      headers: signed(paymentBody, [NEW_KEY.secretKey, OLD_KEY.secretKey]),
      body: paymentBody,
      now: SIGNED_AT,
    },
    {
      name: 'a move from v1 to v1a, checked with the v1 secret',
      description: 'Signed during the overlap of a move from v1 to v1a: a v1a entry by the new secret key, then a v1 entry by the old secret. A v1-only verifier skips the v1a entry.',
      secrets: [OLD_SECRET],
      headers: signed(paymentBody, [NEW_KEY.secretKey, OLD_SECRET]),
      body: paymentBody,
      now: SIGNED_AT,
    },
    {
      name: 'a move from v1 to v1a, checked with the public key',
      description: 'The same request, at a receiver that has switched to the public key.',
      secrets: [NEW_KEY.publicKey],
      headers: signed(paymentBody, [NEW_KEY.secretKey, OLD_SECRET]),
      body: paymentBody,
      now: SIGNED_AT,
    },
  ];

  const v1a = signed(paymentBody, [NEW_KEY.secretKey]);
  const good = signed(paymentBody, [NEW_SECRET]);
  const bookkeeper = { secrets: [NEW_SECRET], headers: good, body: paymentBody, now: SIGNED_AT };
  const invalid: InvalidTestVector[] = [
    {
      name: 'v1a: a v1a signature at a receiver with a v1 secret only',
      description: 'A v1a entry is checked against whpk_ public keys only, never against a whsec_ secret.',
      secrets: [NEW_SECRET],
      headers: v1a,
      body: paymentBody,
      now: SIGNED_AT,
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'v1a: a v1 signature at a receiver with a public key only',
      description: 'A v1 entry is checked against whsec_ secrets only, never against a whpk_ public key.',
      secrets: [NEW_KEY.publicKey],
      headers: good,
      body: paymentBody,
      now: SIGNED_AT,
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'v1a: signed by another key',
      description: 'A v1a signature by a secret key whose public key the receiver does not hold.',
      secrets: [OTHER_KEY.publicKey],
      headers: v1a,
      body: paymentBody,
      now: SIGNED_AT,
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'v1a: a tampered body',
      description: 'The v1a-signed body with one amount changed after signing.',
      secrets: [NEW_KEY.publicKey],
      headers: v1a,
      body: paymentBody.replace('12300', '92300'),
      now: SIGNED_AT,
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'v1a: a truncated signature',
      description: 'A v1a entry whose base64 is cut short, so it is not 64 bytes: not a well-formed entry, and the header has no other.',
      secrets: [NEW_KEY.publicKey],
      headers: headers(EVENT_ID, SIGNED_AT, v1a['webhook-signature']!.slice(0, -4)),
      body: paymentBody,
      now: SIGNED_AT,
      error: 'WEBHOOK_INVALID_SIGNATURE',
    },
    {
      name: 'a tampered body',
      description: 'The amount in the body was changed after signing.',
      ...bookkeeper,
      body: paymentBody.replace('"amount":12300', '"amount":92300'),
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'the body parsed and serialised again',
      description:
        'The raw-body pitfall: the same JSON, parsed by a framework and written again (here indented). The signature covers the bytes that were sent, so verify the raw body before any JSON parsing.',
      ...bookkeeper,
      body: JSON.stringify(JSON.parse(paymentBody), null, 2),
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'a trailing newline added to the body',
      description: 'One byte more than was signed (a proxy or a logging middleware that appends a newline).',
      ...bookkeeper,
      body: `${paymentBody}\n`,
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'the wrong secret',
      description: "Verified with another subscription's secret.",
      ...bookkeeper,
      secrets: [OTHER_SECRET],
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'another webhook-id',
      description: 'The signature of a different message id: the id is part of what is signed.',
      ...bookkeeper,
      headers: { ...good, 'webhook-id': 'evt_01KN1JSGH0QNA3KRQZ2ESVER9H' },
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'another webhook-timestamp',
      description: 'The timestamp header moved by one second: the timestamp is part of what is signed.',
      ...bookkeeper,
      headers: { ...good, 'webhook-timestamp': String(SIGNED_AT + 1) },
      now: SIGNED_AT + 1,
      error: 'WEBHOOK_NO_MATCHING_SIGNATURE',
    },
    {
      name: 'too old',
      description: `Received ${TOLERANCE_SECONDS + 1} s after it was signed: a replay, or a receiver clock far ahead.`,
      ...bookkeeper,
      now: SIGNED_AT + TOLERANCE_SECONDS + 1,
      error: 'WEBHOOK_TIMESTAMP_TOO_OLD',
    },
    {
      name: 'too new',
      description: `Received by a clock ${TOLERANCE_SECONDS + 1} s behind the sender's.`,
      ...bookkeeper,
      now: SIGNED_AT - TOLERANCE_SECONDS - 1,
      error: 'WEBHOOK_TIMESTAMP_TOO_NEW',
    },
    { name: 'no webhook-id header', description: 'A required header is missing.', ...bookkeeper, headers: without(good, 'webhook-id'), error: 'WEBHOOK_MISSING_HEADER' },
    {
      name: 'no webhook-timestamp header',
      description: 'A required header is missing.',
      ...bookkeeper,
      headers: without(good, 'webhook-timestamp'),
      error: 'WEBHOOK_MISSING_HEADER',
    },
    {
      name: 'no webhook-signature header',
      description: 'A required header is missing.',
      ...bookkeeper,
      headers: without(good, 'webhook-signature'),
      error: 'WEBHOOK_MISSING_HEADER',
    },
    ...specVectors.mustFail.signatures.map((signature) => ({
      name: `the malformed signature "${signature}"`,
      description: 'From the spec libraries\' tests: a v1 entry that is not the base64 of an HMAC-SHA256.',
      secrets: [first.secret],
      headers: headers(first.id, first.timestamp, signature),
      body: first.payload,
      now: first.timestamp,
      error: 'WEBHOOK_INVALID_SIGNATURE' as const,
    })),
    ...specVectors.mustFail.timestamps.map((timestamp) => ({
      name: `the timestamp "${timestamp}"`,
      description: 'From the spec libraries\' tests: webhook-timestamp is not unix seconds.',
      secrets: [first.secret],
      headers: headers(first.id, timestamp, first.signature),
      body: first.payload,
      now: first.timestamp,
      error: 'WEBHOOK_INVALID_TIMESTAMP' as const,
    })),
    {
      name: 'a valid HMAC under another version',
      description: 'Spec vector 1\'s correct signature labelled v2: a v1 verifier must not accept a version it does not know, even when the bytes match.',
      secrets: [first.secret],
      headers: headers(first.id, first.timestamp, `v2,${firstBase64}`),
      body: first.payload,
      now: first.timestamp,
      error: 'WEBHOOK_INVALID_SIGNATURE',
    },
    {
      name: 'an event of another environment',
      description: 'A correctly signed event from the "test" environment at an endpoint that accepts only "live": refuse it after verifying, from the signed envelope (never from the unsigned bookkeeper-environment header).',
      secrets: [NEW_SECRET],
      headers: signed(testBody, [NEW_SECRET]),
      body: testBody,
      now: SIGNED_AT,
      environment: 'live',
      error: 'WEBHOOK_ENVIRONMENT_MISMATCH',
    },
    {
      name: 'an event that names no environment',
      description: 'A correctly signed envelope without "environment" at an endpoint that accepts only "live": absent means unknown, not live.',
      ...bookkeeper,
      environment: 'live',
      error: 'WEBHOOK_ENVIRONMENT_MISMATCH',
    },
  ];

  return {
    about:
      'Signature test vectors for receivers of Bookkeeper webhooks (Standard Webhooks 1.0: v1, HMAC-SHA256, and v1a, Ed25519), shipped as @bookkeeper/webhooks/test-vectors.json. Feed each vector to your verifier with its secrets, headers and raw body, at the clock time "now" (the timestamps are fixed, so inject the clock, or freeze it in the test): every "valid" vector must verify, every "invalid" one must be refused. The "error" field is the code @bookkeeper/webhooks refuses it with; another verifier only needs to refuse it. Vectors with "environment" also test the check of the signed envelope\'s environment that a receiver does after the signature.',
    scheme:
      "webhook-signature = space-separated entries 'v1,' + base64(HMAC-SHA256(key, webhook-id + '.' + webhook-timestamp + '.' + raw body)), where key = base64-decode(secret without its 'whsec_' prefix), or 'v1a,' + base64(Ed25519 signature of the same content), checked with the 32-byte public key base64-decoded from a 'whpk_' key; a message is valid when one v1 entry matches one whsec_ secret (constant-time comparison) or one v1a entry verifies with one whpk_ public key, and |now - webhook-timestamp| <= toleranceSeconds.",
    toleranceSeconds: TOLERANCE_SECONDS,
    fields: {
      name: 'a stable name for the vector',
      description: 'what it shows, or what is wrong with it',
      secrets: "the receiver's keys: whsec_ + base64 secrets (v1) and whpk_ + base64 public keys (v1a); a signature by any of them is accepted",
      headers: 'the request headers, lower-case names; a missing header is absent',
      body: 'the raw request body, exactly as sent; encode it as UTF-8 to get the signed bytes',
      now: "the receiver's clock when it verifies, in unix seconds",
      environment: 'when present: the only environment the receiver accepts, compared with the envelope\'s "environment" field after the signature verified',
      error: 'invalid vectors only: the SignatureVerificationError code of @bookkeeper/webhooks',
    },
    valid,
    invalid,
  };
}

/** The file's text: what `test-vectors.json` must hold. */
export function renderTestVectors(): string {
  return `${JSON.stringify(buildTestVectors(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const expected = renderTestVectors();
  let current: string | undefined;
  try {
    current = readFileSync(testVectorsPath, 'utf8');
  } catch {
    current = undefined;
  }
  if (process.argv.includes('--check')) {
    if (current !== expected) {
      console.error('test-vectors.json is out of date: run `npm run test-vectors`');
      process.exitCode = 1;
    }
  } else if (current !== expected) {
    writeFileSync(testVectorsPath, expected);
    console.log(`wrote ${testVectorsPath}`);
  }
}
