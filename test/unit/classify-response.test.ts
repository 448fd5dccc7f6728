import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../src/delivery/backoff.js';
import { classifyResponse, type ClassifyContext } from '../../src/delivery/classify-response.js';
import type { TransportResult } from '../../src/delivery/transport.js';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const HOUR = 3_600_000;

// Three attempts in all: waits of 10 s and 60 s, no jitter, so every outcome is exact.
const policy: RetryPolicy = { kind: 'schedule', delaysMs: [10_000, 60_000], jitter: 0 };
const LAST_ATTEMPT = 3;

function context(attempt: number, overrides: Partial<ClassifyContext> = {}): ClassifyContext {
  return {
    attempt,
    policy,
    now: NOW,
    random: () => {
      throw new Error('random must not be consulted without jitter');
    },
    maxRetryAfterMs: HOUR,
    ...overrides,
  };
}

function response(statusCode: number, retryAfter: string | null = null): TransportResult {
  return { kind: 'response', statusCode, retryAfter, body: '' };
}

function transportError(errorClass: 'timeout' | 'connect' | 'dns' | 'tls' | 'ssrf' | 'network', message: string): TransportResult {
  return { kind: 'error', errorClass, message };
}

function httpDate(epochMs: number): string {
  return new Date(epochMs).toUTCString();
}

describe('classifyResponse', () => {
  describe('2xx', () => {
    it.each([200, 201, 202, 204, 299])('marks a %i delivered, with no error fields', (statusCode) => {
      expect(classifyResponse(response(statusCode), context(1))).toEqual({
        outcome: { kind: 'delivered' },
        statusCode,
        errorClass: null,
        errorMessage: null,
      });
    });

    it('marks a 2xx delivered even on the last attempt', () => {
      expect(classifyResponse(response(200), context(LAST_ATTEMPT)).outcome).toEqual({ kind: 'delivered' });
    });

    it('ignores a Retry-After header on a 2xx', () => {
      expect(classifyResponse(response(204, '120'), context(1)).outcome).toEqual({ kind: 'delivered' });
    });
  });

  describe('410 Gone', () => {
    it('disables the subscription and records the status as an http error', () => {
      const result = classifyResponse(response(410), context(1));
      expect(result.outcome.kind).toBe('disable');
      expect(result.statusCode).toBe(410);
      expect(result.errorClass).toBe('http');
      expect(result.errorMessage).toEqual(expect.any(String));
      if (result.outcome.kind === 'disable') expect(result.outcome.reason).toEqual(expect.any(String));
    });

    it('disables rather than kills on the last attempt too', () => {
      expect(classifyResponse(response(410), context(LAST_ATTEMPT)).outcome.kind).toBe('disable');
    });
  });

  describe.each([429, 503])('%i with Retry-After', (statusCode) => {
    it('retries after the delay-seconds the receiver asked for, not the policy delay', () => {
      const result = classifyResponse(response(statusCode, '120'), context(1));
      expect(result.outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 120_000 });
      expect(result.statusCode).toBe(statusCode);
      expect(result.errorClass).toBe('http');
      expect(result.errorMessage).toEqual(expect.any(String));
    });

    it('retries at the HTTP-date the receiver asked for', () => {
      const result = classifyResponse(response(statusCode, httpDate(NOW + 7 * 60_000)), context(1));
      expect(result.outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 7 * 60_000 });
    });

    it('keeps the policy delay when Retry-After asks for less, so a run of `Retry-After: 0` cannot spend the attempts in seconds', () => {
      expect(classifyResponse(response(statusCode, '1'), context(2)).outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 60_000 });
      expect(classifyResponse(response(statusCode, '0'), context(1)).outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 10_000 });
    });

    it('keeps the policy delay for an HTTP-date in the past', () => {
      const result = classifyResponse(response(statusCode, httpDate(NOW - 60_000)), context(1));
      expect(result.outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 10_000 });
    });

    it('clamps a wait longer than maxRetryAfterMs (delay-seconds)', () => {
      const result = classifyResponse(response(statusCode, String(30 * 24 * 3_600)), context(1));
      expect(result.outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + HOUR });
    });

    it('clamps a wait longer than maxRetryAfterMs (HTTP-date)', () => {
      const result = classifyResponse(response(statusCode, httpDate(NOW + 365 * 24 * HOUR)), context(1, { maxRetryAfterMs: 5 * 60_000 }));
      expect(result.outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 5 * 60_000 });
    });

    it('gives up (dead) when the policy has no attempts left, whatever Retry-After says', () => {
      const result = classifyResponse(response(statusCode, '5'), context(LAST_ATTEMPT));
      expect(result).toEqual({ outcome: { kind: 'dead' }, statusCode, errorClass: 'http', errorMessage: expect.any(String) });
    });

    it('falls back to the policy delay when Retry-After is unreadable', () => {
      expect(classifyResponse(response(statusCode, 'soon'), context(1)).outcome).toEqual({
        kind: 'retry',
        nextAttemptAt: NOW + 10_000,
      });
    });
  });

  describe.each([429, 503])('%i without Retry-After', (statusCode) => {
    it('retries on the policy delay', () => {
      expect(classifyResponse(response(statusCode), context(1)).outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 10_000 });
      expect(classifyResponse(response(statusCode), context(2)).outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 60_000 });
    });
  });

  describe.each([500, 502, 404, 400, 401, 302, 301, 304, 100, 199, 300, 418, 599])('%i', (statusCode) => {
    it('is retried on the policy delay, with the status recorded', () => {
      expect(classifyResponse(response(statusCode), context(1))).toEqual({
        outcome: { kind: 'retry', nextAttemptAt: NOW + 10_000 },
        statusCode,
        errorClass: 'http',
        errorMessage: expect.any(String),
      });
      expect(classifyResponse(response(statusCode), context(2)).outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 60_000 });
    });

    it('is dead once the policy runs out', () => {
      expect(classifyResponse(response(statusCode), context(LAST_ATTEMPT))).toEqual({
        outcome: { kind: 'dead' },
        statusCode,
        errorClass: 'http',
        errorMessage: expect.any(String),
      });
    });
  });

  it('ignores Retry-After on statuses other than 429 and 503', () => {
    expect(classifyResponse(response(500, '3000'), context(1)).outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 10_000 });
    expect(classifyResponse(response(302, '3000'), context(1)).outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 10_000 });
  });

  describe.each(['timeout', 'connect', 'dns', 'tls', 'ssrf', 'network'] as const)('a %s transport error', (errorClass) => {
    const message = `${errorClass} failed for the test`;

    it('is retried on the policy delay, keeping its error class and message and no status', () => {
      expect(classifyResponse(transportError(errorClass, message), context(1))).toEqual({
        outcome: { kind: 'retry', nextAttemptAt: NOW + 10_000 },
        statusCode: null,
        errorClass,
        errorMessage: message,
      });
    });

    it('is dead once the policy runs out', () => {
      expect(classifyResponse(transportError(errorClass, message), context(LAST_ATTEMPT))).toEqual({
        outcome: { kind: 'dead' },
        statusCode: null,
        errorClass,
        errorMessage: message,
      });
    });
  });

  it('hands the status and error class to a custom retry function', () => {
    const seen: unknown[] = [];
    const custom: RetryPolicy = {
      kind: 'custom',
      delayMs: (retryContext) => {
        seen.push(retryContext);
        return 4_000;
      },
    };
    expect(classifyResponse(response(502), context(2, { policy: custom })).outcome).toEqual({ kind: 'retry', nextAttemptAt: NOW + 4_000 });
    expect(classifyResponse(transportError('dns', 'ENOTFOUND'), context(1, { policy: custom })).outcome).toEqual({
      kind: 'retry',
      nextAttemptAt: NOW + 4_000,
    });
    expect(seen).toEqual([
      { attempt: 2, statusCode: 502, errorClass: 'http' },
      { attempt: 1, statusCode: null, errorClass: 'dns' },
    ]);
  });

  it('is dead when a custom retry function gives up', () => {
    const custom: RetryPolicy = { kind: 'custom', delayMs: () => null };
    expect(classifyResponse(response(500), context(1, { policy: custom })).outcome).toEqual({ kind: 'dead' });
    expect(classifyResponse(response(503, '10'), context(1, { policy: custom })).outcome).toEqual({ kind: 'dead' });
  });

  it('applies jitter from the injected random source', () => {
    const jittered: RetryPolicy = { kind: 'schedule', delaysMs: [10_000], jitter: 0.5 };
    expect(classifyResponse(response(500), context(1, { policy: jittered, random: () => 0 })).outcome).toEqual({
      kind: 'retry',
      nextAttemptAt: NOW + 5_000,
    });
  });
});
