/**
 * Signature verification failures that the host reports from its receivers
 * (`dashboard.recordVerificationFailure`): counts per minute and error code, kept for a
 * week in fixed memory, for the overview's figure. The library cannot see them itself —
 * they happen in the consumers' apps — so they are fed, as the seed's metric asks.
 */

const minuteMs = 60_000;
const keptMs = 7 * 24 * 3_600_000;
/** Distinct codes kept per minute: the receiver's codes are a short fixed list; anything past it counts as `OTHER`. */
const maxCodesPerMinute = 32;

export interface VerificationFailureCounts {
  total: number;
  byCode: Record<string, number>;
}

export class VerificationFailureLog {
  /** Minute start → code → count. */
  private readonly minutes = new Map<number, Map<string, number>>();

  record(code: string, atMs: number): void {
    const minute = Math.floor(atMs / minuteMs) * minuteMs;
    let counts = this.minutes.get(minute);
    if (counts === undefined) {
      counts = new Map();
      this.minutes.set(minute, counts);
      this.prune(atMs);
    }
    const key = counts.has(code) || counts.size < maxCodesPerMinute ? code : 'OTHER';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }

  /** Failures recorded in `[fromMs, toMs)`. */
  countBetween(fromMs: number, toMs: number): VerificationFailureCounts {
    const byCode: Record<string, number> = {};
    let total = 0;
    for (const [minute, counts] of this.minutes) {
      if (minute + minuteMs <= fromMs || minute >= toMs) continue;
      for (const [code, count] of counts) {
        byCode[code] = (byCode[code] ?? 0) + count;
        total += count;
      }
    }
    return { total, byCode };
  }

  private prune(nowMs: number): void {
    // Once per new minute, over at most a week of minutes (a clock that steps back can put
    // an older minute after a newer one, so every key is looked at).
    for (const minute of this.minutes.keys()) {
      if (minute < nowMs - keptMs) this.minutes.delete(minute);
    }
  }
}
