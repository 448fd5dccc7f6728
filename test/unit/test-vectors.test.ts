/**
 * The test vectors shipped as `@bookkeeper/webhooks/test-vectors.json`: what
 * scripts/test-vectors.ts writes, every valid one verified by each of the receiver's
 * verifiers, every invalid one refused with its code, and the reference library
 * (`standardwebhooks` on npm, the interoperability peer) reaching the same verdicts.
 */
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isWebhookError } from '../../src/errors.js';
import { verifyWebhook, verifyWebhookAsync, verifyWebhookSignature, verifyWebhookSignatureAsync } from '../../src/receiver/index.js';
import { renderTestVectors, testVectorsPath, type InvalidTestVector, type TestVector, type TestVectors } from '../../scripts/test-vectors.js';
import specVectors from '../fixtures/standard-webhooks-vectors.json' with { type: 'json' };

const shipped = readFileSync(testVectorsPath, 'utf8');
const vectors = JSON.parse(shipped) as TestVectors;

type Outcome = { verified: unknown } | { code: string };

async function outcomeOf(run: () => unknown): Promise<Outcome> {
  try {
    return { verified: await run() };
  } catch (error) {
    if (isWebhookError(error)) return { code: error.code };
    throw error;
  }
}

/** Runs a vector through one of the four verifiers: the envelope ones when it names an environment. */
function verifiersFor(vector: TestVector): Array<{ name: string; run: () => unknown; verified: unknown }> {
  const message = { body: vector.body, headers: { ...vector.headers } };
  const now = new Date(vector.now * 1000);
  const id = vector.headers['webhook-id'];
  if (vector.environment !== undefined) {
    const options = { secrets: vector.secrets, now, environment: vector.environment };
    const envelope = JSON.parse(vector.body) as { type: string; timestamp: string; environment: string; data: unknown };
    const event = { id, type: envelope.type, timestamp: envelope.timestamp, environment: envelope.environment, data: envelope.data };
    return [
      { name: 'verifyWebhook', run: () => verifyWebhook(message, options), verified: event },
      { name: 'verifyWebhookAsync', run: () => verifyWebhookAsync(message, options), verified: event },
    ];
  }
  const options = { secrets: vector.secrets, now };
  const signed = { id, timestamp: Number(vector.headers['webhook-timestamp']), body: vector.body };
  return [
    { name: 'verifyWebhookSignature', run: () => verifyWebhookSignature(message, options), verified: signed },
    { name: 'verifyWebhookSignatureAsync', run: () => verifyWebhookSignatureAsync(message, options), verified: signed },
  ];
}

describe('test-vectors.json', () => {
  it('is what scripts/test-vectors.ts writes (run `npm run test-vectors` after changing it)', () => {
    expect(shipped === renderTestVectors(), 'test-vectors.json is out of date: run `npm run test-vectors`').toBe(true);
  });

  it('holds every known answer and every must-fail case of the Standard Webhooks spec', () => {
    for (const spec of specVectors.vectors) {
      expect(vectors.valid).toContainEqual(
        expect.objectContaining({
          secrets: [spec.secret],
          body: spec.payload,
          headers: { 'webhook-id': spec.id, 'webhook-timestamp': String(spec.timestamp), 'webhook-signature': spec.signature },
        }),
      );
    }
    const refusedSignatures = vectors.invalid.map((vector) => vector.headers['webhook-signature']);
    for (const signature of specVectors.mustFail.signatures) expect(refusedSignatures).toContain(signature);
    const refusedTimestamps = vectors.invalid.map((vector) => vector.headers['webhook-timestamp']);
    for (const timestamp of specVectors.mustFail.timestamps) expect(refusedTimestamps).toContain(timestamp);
  });

  it('names each vector once and gives every invalid one a code', () => {
    const names = [...vectors.valid, ...vectors.invalid].map((vector) => vector.name);
    expect(new Set(names).size).toBe(names.length);
    for (const vector of vectors.invalid) expect(vector.error).toMatch(/^WEBHOOK_[A-Z_]+$/);
  });
});

describe.each(vectors.valid)('valid vector $name', (vector) => {
  it('verifies with every verifier of the receiver entry', async () => {
    for (const verifier of verifiersFor(vector)) {
      expect(await outcomeOf(verifier.run), verifier.name).toEqual({ verified: verifier.verified });
    }
  });
});

describe.each(vectors.invalid)('invalid vector $name', (vector: InvalidTestVector) => {
  it('is refused with its code by every verifier of the receiver entry', async () => {
    for (const verifier of verifiersFor(vector)) {
      expect(await outcomeOf(verifier.run), verifier.name).toEqual({ code: vector.error });
    }
  });
});

describe('the standardwebhooks reference library on the same vectors', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** True when the library accepts the request with one of the secrets, at the vector's time (it reads Date.now). */
  function referenceAccepts(vector: TestVector): boolean {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(vector.now * 1000);
    return vector.secrets.some((secret) => {
      try {
        new Webhook(secret).verify(vector.body, { ...vector.headers }, { jsonParse: false });
        return true;
      } catch {
        return false;
      }
    });
  }

  // The reference library implements v1 only: it is given the vectors whose receiver holds whsec_ secrets
  // (those include headers with v1a entries beside v1 ones, which it must skip).
  const v1Receivers = <T extends TestVector>(list: T[]): T[] => list.filter((vector) => vector.secrets.every((secret) => secret.startsWith('whsec_')));

  it('accepts every valid vector whose receiver holds v1 secrets', () => {
    expect(v1Receivers(vectors.valid).length).toBeGreaterThan(10);
    for (const vector of v1Receivers(vectors.valid)) expect(referenceAccepts(vector), vector.name).toBe(true);
  });

  it('refuses every invalid vector whose fault is in the signature, the headers or the time', () => {
    // The environment is the envelope's, which a Standard Webhooks library does not read: the guides check it after.
    const signatureFaults = v1Receivers(vectors.invalid).filter((vector) => vector.error !== 'WEBHOOK_ENVIRONMENT_MISMATCH');
    expect(signatureFaults.length).toBeGreaterThan(10);
    for (const vector of signatureFaults) expect(referenceAccepts(vector), vector.name).toBe(false);
  });
});
