import { describe, expect, it } from 'vitest';
import {
  computeBackoff,
  guardRetryPolicy,
  maxRetryDelayMs,
  standardWebhooksDelaysMs,
  type RetryFunctionFailure,
  type RetryContext,
  type RetryPolicy,
} from '../../src/delivery/backoff.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Just below 1: the largest value a `[0, 1)` source is expected to return in practice. */
const ALMOST_ONE = 1 - 1e-12;

function failed(attempt: number, statusCode: number | null = 500, errorClass: string | null = 'http'): RetryContext {
  return { attempt, statusCode, errorClass };
}

const noRandom = (): number => {
  throw new Error('random must not be consulted without jitter');
};

describe('standardWebhooksDelaysMs', () => {
  it('is the Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h', () => {
    expect([...standardWebhooksDelaysMs]).toEqual([
      5 * SECOND,
      5 * MINUTE,
      30 * MINUTE,
      2 * HOUR,
      5 * HOUR,
      10 * HOUR,
      14 * HOUR,
      20 * HOUR,
      24 * HOUR,
    ]);
  });

  it('is frozen, so no caller can change the default schedule for everyone', () => {
    expect(Object.isFrozen(standardWebhooksDelaysMs)).toBe(true);
  });

  it('allows 10 attempts in all: the immediate one and one after each delay', () => {
    const standard: RetryPolicy = { kind: 'schedule', delaysMs: standardWebhooksDelaysMs, jitter: 0 };
    expect(computeBackoff(standard, failed(9), noRandom)).toBe(24 * 3_600_000);
    expect(computeBackoff(standard, failed(10), noRandom)).toBeNull();
  });
});

describe('computeBackoff with a fixed schedule', () => {
  const policy: RetryPolicy = { kind: 'schedule', delaysMs: [1_000, 20_000, 300_000], jitter: 0 };

  it('waits the scheduled delay after each failed attempt, exactly, without jitter', () => {
    expect(computeBackoff(policy, failed(1), noRandom)).toBe(1_000);
    expect(computeBackoff(policy, failed(2), noRandom)).toBe(20_000);
    expect(computeBackoff(policy, failed(3), noRandom)).toBe(300_000);
  });

  it('gives up (null) after the attempt that follows the last delay', () => {
    expect(computeBackoff(policy, failed(4), noRandom)).toBeNull();
    expect(computeBackoff(policy, failed(5), noRandom)).toBeNull();
  });

  it('gives up after the first attempt with an empty schedule', () => {
    expect(computeBackoff({ kind: 'schedule', delaysMs: [], jitter: 0 }, failed(1), noRandom)).toBeNull();
  });

  it('applies the same delay whatever the failure was (status or transport error)', () => {
    expect(computeBackoff(policy, failed(2, null, 'timeout'), noRandom)).toBe(20_000);
    expect(computeBackoff(policy, failed(2, 429, 'http'), noRandom)).toBe(20_000);
  });

  it('walks the whole Standard Webhooks schedule and then gives up', () => {
    const standard: RetryPolicy = { kind: 'schedule', delaysMs: standardWebhooksDelaysMs, jitter: 0 };
    const waits = Array.from({ length: 10 }, (_, i) => computeBackoff(standard, failed(i + 1), noRandom));
    expect(waits).toEqual([...standardWebhooksDelaysMs, null]);
  });
});

describe('computeBackoff with an exponential policy', () => {
  const policy: RetryPolicy = {
    kind: 'exponential',
    initialDelayMs: 1_000,
    factor: 3,
    maxDelayMs: 20_000,
    maxAttempts: 6,
    jitter: 0,
  };

  it('multiplies the wait by the factor after each failure', () => {
    expect(computeBackoff(policy, failed(1), noRandom)).toBe(1_000);
    expect(computeBackoff(policy, failed(2), noRandom)).toBe(3_000);
    expect(computeBackoff(policy, failed(3), noRandom)).toBe(9_000);
  });

  it('caps the wait at maxDelayMs', () => {
    expect(computeBackoff(policy, failed(4), noRandom)).toBe(20_000);
    expect(computeBackoff(policy, failed(5), noRandom)).toBe(20_000);
  });

  it('gives up (null) once maxAttempts attempts have failed', () => {
    expect(computeBackoff(policy, failed(6), noRandom)).toBeNull();
    expect(computeBackoff(policy, failed(7), noRandom)).toBeNull();
  });

  it('makes a single attempt when maxAttempts is 1', () => {
    expect(computeBackoff({ ...policy, maxAttempts: 1 }, failed(1), noRandom)).toBeNull();
  });

  it('returns whole milliseconds without jitter too (a storage keeps due times as integers): a factor of 1.5 is rounded', () => {
    const fractional: RetryPolicy = { ...policy, factor: 1.5, maxDelayMs: 1_000_000, maxAttempts: 10 };
    expect([4, 5, 6].map((n) => computeBackoff(fractional, failed(n), noRandom))).toEqual([3_375, 5_063, 7_594]);
  });

  it('waits 0, never NaN, with initialDelayMs 0 once factor^n overflows to Infinity', () => {
    const zero: RetryPolicy = { kind: 'exponential', initialDelayMs: 0, factor: 100, maxDelayMs: 1_000, maxAttempts: 1_000, jitter: 0 };
    expect(computeBackoff(zero, failed(200), noRandom)).toBe(0);
  });

  it('keeps the wait constant with factor 1', () => {
    const flat: RetryPolicy = { ...policy, factor: 1 };
    expect([1, 2, 3, 4, 5].map((n) => computeBackoff(flat, failed(n), noRandom))).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
  });
});

describe('computeBackoff jitter', () => {
  const schedule: RetryPolicy = { kind: 'schedule', delaysMs: [10_000, 100_000], jitter: 0.1 };
  const exponential: RetryPolicy = {
    kind: 'exponential',
    initialDelayMs: 10_000,
    factor: 2,
    maxDelayMs: 1_000_000,
    maxAttempts: 5,
    jitter: 0.25,
  };

  it('draws the lower edge d·(1−f) when random returns 0', () => {
    expect(computeBackoff(schedule, failed(1), () => 0)).toBe(9_000);
    expect(computeBackoff(schedule, failed(2), () => 0)).toBe(90_000);
    expect(computeBackoff(exponential, failed(2), () => 0)).toBe(15_000);
  });

  it('draws the upper edge d·(1+f) when random returns just under 1', () => {
    expect(computeBackoff(schedule, failed(1), () => ALMOST_ONE)).toBe(11_000);
    expect(computeBackoff(schedule, failed(2), () => ALMOST_ONE)).toBe(110_000);
    expect(computeBackoff(exponential, failed(2), () => ALMOST_ONE)).toBe(25_000);
  });

  it('draws the scheduled delay itself when random returns 0.5', () => {
    expect(computeBackoff(schedule, failed(1), () => 0.5)).toBe(10_000);
    expect(computeBackoff(exponential, failed(3), () => 0.5)).toBe(40_000);
  });

  it('stays within [d·(1−f), d·(1+f)] for every draw', () => {
    for (let i = 0; i < 1_000; i++) {
      const r = i / 1_000;
      const wait = computeBackoff(schedule, failed(1), () => r);
      expect(wait).not.toBeNull();
      expect(wait!).toBeGreaterThanOrEqual(9_000);
      expect(wait!).toBeLessThanOrEqual(11_000);
    }
  });

  it('returns whole milliseconds', () => {
    const wait = computeBackoff({ kind: 'schedule', delaysMs: [1_001], jitter: 0.1 }, failed(1), () => 0.123456789);
    expect(Number.isInteger(wait)).toBe(true);
  });

  it('jitters the capped exponential wait around the cap', () => {
    const capped: RetryPolicy = { ...exponential, maxDelayMs: 20_000 };
    expect(computeBackoff(capped, failed(4), () => 0)).toBe(15_000);
    expect(computeBackoff(capped, failed(4), () => ALMOST_ONE)).toBe(25_000);
  });

  it('still gives up at the end of the schedule, whatever random returns', () => {
    expect(computeBackoff(schedule, failed(3), () => 0.5)).toBeNull();
    expect(computeBackoff(exponential, failed(5), () => 0.5)).toBeNull();
  });

  it('never draws a negative wait, even with a jitter of 1', () => {
    const full: RetryPolicy = { kind: 'schedule', delaysMs: [5_000], jitter: 1 };
    expect(computeBackoff(full, failed(1), () => 0)).toBe(0);
    expect(computeBackoff(full, failed(1), () => ALMOST_ONE)).toBe(10_000);
  });
});

describe('computeBackoff with a custom function', () => {
  it('waits what the function returns and hands it the failed attempt', () => {
    const seen: RetryContext[] = [];
    const policy: RetryPolicy = {
      kind: 'custom',
      delayMs: (context) => {
        seen.push(context);
        return context.attempt * 7_000;
      },
    };
    expect(computeBackoff(policy, failed(3, 503, 'http'), noRandom)).toBe(21_000);
    expect(computeBackoff(policy, failed(1, null, 'dns'), noRandom)).toBe(7_000);
    expect(seen).toEqual([failed(3, 503, 'http'), failed(1, null, 'dns')]);
  });

  it('accepts a wait of 0 (retry at once)', () => {
    expect(computeBackoff({ kind: 'custom', delayMs: () => 0 }, failed(1), noRandom)).toBe(0);
  });

  it('gives up when the function returns null', () => {
    expect(computeBackoff({ kind: 'custom', delayMs: () => null }, failed(1), noRandom)).toBeNull();
  });

  it.each([
    ['a negative number', -1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('gives up rather than retrying in a hot loop when the function returns %s', (_name, value) => {
    expect(computeBackoff({ kind: 'custom', delayMs: () => value }, failed(1), noRandom)).toBeNull();
  });

  it('rounds a fractional wait to whole milliseconds and caps a huge one at 365 days', () => {
    expect(computeBackoff({ kind: 'custom', delayMs: () => 1_500.5 }, failed(1), noRandom)).toBe(1_501);
    expect(computeBackoff({ kind: 'custom', delayMs: () => 1e300 }, failed(1), noRandom)).toBe(maxRetryDelayMs);
    expect(maxRetryDelayMs).toBe(365 * 24 * HOUR);
  });

});

describe('guardRetryPolicy (what the dispatcher reads)', () => {
  const halfway = () => 0.5;
  const guarded = (delayMs: () => unknown) => {
    const reported: RetryFunctionFailure[] = [];
    const policy = guardRetryPolicy({ kind: 'custom', delayMs: delayMs as () => number | null }, halfway, (failure) => reported.push(failure));
    return { policy, reported };
  };

  it('passes a wait or null through, reporting nothing', () => {
    for (const answer of [0, 7_000, null]) {
      const { policy, reported } = guarded(() => answer);
      expect(computeBackoff(policy, failed(1), noRandom)).toBe(answer);
      expect(reported).toEqual([]);
    }
  });

  it.each([
    ['throws', () => {
      throw new Error('boom');
    }, 'threw'],
    ['returns a promise', async () => 10, 'returned a Promise'],
    ['returns NaN', () => Number.NaN, 'returned NaN'],
    ['returns a string', () => '10', 'returned "10"'],
    ['returns a negative number', () => -5, 'returned -5'],
  ])('reports a function that %s and takes the default schedule’s wait for that attempt', (_what, delayMs, problem) => {
    const { policy, reported } = guarded(delayMs);
    expect(computeBackoff(policy, failed(1), noRandom)).toBe(5 * SECOND);
    expect(computeBackoff(policy, failed(2), noRandom)).toBe(5 * MINUTE);
    expect(computeBackoff(policy, failed(10), noRandom)).toBeNull();
    expect(reported.map((failure) => failure.problem)).toEqual([problem, problem, problem]);
    if (problem === 'threw') expect(reported[0]!.error).toMatchObject({ message: 'boom' });
  });

  it('leaves a policy given as data as it is', () => {
    const schedule: RetryPolicy = { kind: 'schedule', delaysMs: [1_000], jitter: 0 };
    expect(guardRetryPolicy(schedule, halfway, () => expect.fail('nothing to report'))).toBe(schedule);
  });
});
