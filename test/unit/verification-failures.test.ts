/**
 * The dashboard's log of verification failures the host feeds: counts per minute and code,
 * read over a window of whole minutes, kept a week (older minutes pruned as new ones come),
 * and at most 32 codes a minute (the rest counted as OTHER), so its memory stays bounded.
 */
import { describe, expect, it } from 'vitest';
import { VerificationFailureLog } from '../../src/dashboard/verification-failures.js';
import { FakeClock } from '../support/fake-clock.js';

const minuteMs = 60_000;
const weekMs = 7 * 24 * 60 * minuteMs;
// FakeClock starts on a minute boundary (2026-11-26T12:00:00Z).
const start = new FakeClock().now();

describe('VerificationFailureLog', () => {
  it('counts by code within [from, to): a failure at `to` belongs to the next window', () => {
    expect(start % minuteMs).toBe(0);
    const log = new VerificationFailureLog();
    log.record('WEBHOOK_NO_MATCHING_SIGNATURE', start);
    log.record('WEBHOOK_NO_MATCHING_SIGNATURE', start + minuteMs - 1);
    log.record('WEBHOOK_TIMESTAMP_TOO_OLD', start + minuteMs);
    expect(log.countBetween(start, start + minuteMs)).toEqual({ total: 2, byCode: { WEBHOOK_NO_MATCHING_SIGNATURE: 2 } });
    expect(log.countBetween(start + minuteMs, start + 2 * minuteMs)).toEqual({ total: 1, byCode: { WEBHOOK_TIMESTAMP_TOO_OLD: 1 } });
    expect(log.countBetween(start - minuteMs, start)).toEqual({ total: 0, byCode: {} });
    expect(log.countBetween(start, start + 2 * minuteMs)).toEqual({ total: 3, byCode: { WEBHOOK_NO_MATCHING_SIGNATURE: 2, WEBHOOK_TIMESTAMP_TOO_OLD: 1 } });
  });

  it('counts whole minutes: a window that starts or ends inside a minute takes all of it', () => {
    const log = new VerificationFailureLog();
    log.record('WEBHOOK_INVALID_SIGNATURE', start + 10_000);
    log.record('WEBHOOK_INVALID_SIGNATURE', start + 50_000);
    expect(log.countBetween(start + 30_000, start + 40_000).total).toBe(2);
    expect(log.countBetween(start + minuteMs, start + 2 * minuteMs).total).toBe(0);
  });

  it('keeps a week: a minute older than that is pruned when a new minute is recorded', async () => {
    const clock = new FakeClock();
    const log = new VerificationFailureLog();
    log.record('WEBHOOK_MISSING_HEADER', clock.now());
    await clock.advance(weekMs);
    log.record('WEBHOOK_INVALID_TIMESTAMP', clock.now());
    // Exactly a week old: still kept.
    expect(log.countBetween(start, start + minuteMs).total).toBe(1);
    await clock.advance(minuteMs);
    // Recording in the same minute again does not prune; the next minute does.
    log.record('WEBHOOK_INVALID_TIMESTAMP', clock.now());
    expect(log.countBetween(start, start + minuteMs).total).toBe(0);
    expect(log.countBetween(0, Number.MAX_SAFE_INTEGER)).toEqual({ total: 2, byCode: { WEBHOOK_INVALID_TIMESTAMP: 2 } });
  });

  it('prunes the older minutes after a clock that stepped back', async () => {
    const clock = new FakeClock();
    const log = new VerificationFailureLog();
    log.record('A', clock.now() + 5 * minuteMs);
    log.record('B', clock.now());
    await clock.advance(weekMs + 2 * minuteMs);
    log.record('C', clock.now());
    expect(log.countBetween(0, Number.MAX_SAFE_INTEGER)).toEqual({ total: 2, byCode: { A: 1, C: 1 } });
  });

  it('keeps 32 codes a minute and counts further codes as OTHER, the next minute fresh', () => {
    const log = new VerificationFailureLog();
    const codes = Array.from({ length: 34 }, (_, index) => `CODE_${index}`);
    for (const code of codes) log.record(code, start);
    log.record('CODE_0', start + 1);
    log.record('CODE_33', start + 2);
    const { total, byCode } = log.countBetween(start, start + minuteMs);
    expect(total).toBe(36);
    expect(Object.keys(byCode)).toHaveLength(33);
    expect(byCode).toMatchObject({ CODE_0: 2, CODE_31: 1, OTHER: 3 });
    expect(byCode.CODE_32).toBeUndefined();
    log.record('CODE_33', start + minuteMs);
    expect(log.countBetween(start + minuteMs, start + 2 * minuteMs).byCode).toEqual({ CODE_33: 1 });
  });
});
