/**
 * Times on the command line: an RFC 3339 date-time with its zone (`2026-12-04T10:00:00Z`,
 * `2026-12-04T11:00:00+01:00`), a date alone (`2026-12-04`, midnight UTC), or a duration
 * ago (`30m`, `6h`, `7d`).
 *
 * A date-time without a zone is refused rather than read in the machine's local time (what
 * `Date.parse` does): the same command would select another window on a server in UTC and
 * on a laptop in Berlin. A date that does not exist (February 30th, month 13) is refused
 * rather than rolled over into the next month.
 */
import { rfc3339InstantMs } from '../routing/rfc3339-instant.js';
import { UsageError } from './usage-error.js';

const units: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Epoch ms of `value`. @throws UsageError for anything else. */
export function parseTimeFlag(value: string, flag: string, command: string, now = Date.now()): number {
  const ago = /^(\d{1,6})([mhd])$/.exec(value);
  if (ago !== null) return now - Number(ago[1]) * units[ago[2]!]!;
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(value) ? rfc3339InstantMs(`${value}T00:00:00Z`) : rfc3339InstantMs(value);
  if (!Number.isFinite(ms) || ms < 0) {
    const zoneless = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value) ? ' (with its zone, Z or ±hh:mm: without one it would be read in this machine\'s time zone)' : '';
    throw new UsageError(
      `Expected ${flag} to be an ISO 8601 time (2026-12-04T10:00:00Z), a date (2026-12-04, midnight UTC) or a duration ago (30m, 6h, 7d)${zoneless}, got ${JSON.stringify(value)}`,
      command,
    );
  }
  return ms;
}
