/** Times on the command line: an ISO 8601 date-time, or a duration ago (`30m`, `6h`, `7d`). */
import { UsageError } from './usage-error.js';

const units: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Epoch ms of `value`. @throws UsageError for anything else. */
export function parseTimeFlag(value: string, flag: string, command: string, now = Date.now()): number {
  const ago = /^(\d{1,6})([mhd])$/.exec(value);
  if (ago !== null) return now - Number(ago[1]) * units[ago[2]!]!;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0) throw new UsageError(`Expected ${flag} to be an ISO 8601 time (2026-12-04T10:00:00Z) or a duration ago (30m, 6h, 7d), got ${JSON.stringify(value)}`, command);
  return ms;
}
