/**
 * A date and time typed into a dashboard form (`<input type="datetime-local">`), read as UTC:
 * the browser sends it without a zone, and the operator and the customer may live in
 * different ones, so the form says UTC and the server never guesses. A trailing `Z` is
 * taken too (the dashboard writes full ISO times into its own hidden fields and links).
 */
import { describeValue } from '../errors.js';

const pattern = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z?$/;

/** What the user sees as the expected shape, in every message. */
export const utcDateTimeExample = '2026-11-26T12:00';

/**
 * Epoch ms of `text` (`YYYY-MM-DDTHH:MM`, optional `:SS` and `.sss`, optional `Z`) as a UTC
 * time; a sentence saying what was expected when it is not one (an impossible date such as
 * February 30th included).
 */
export function parseUtcDateTime(text: string, field: string): { ms: number } | { problem: string } {
  const match = pattern.exec(text);
  const problem = { problem: `Expected \`${field}\` to be a date and time in UTC such as ${utcDateTimeExample}, got ${describeValue(text)}` };
  if (match === null) return problem;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  const millisecond = match[7] === undefined ? 0 : Number(match[7].padEnd(3, '0'));
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, millisecond);
  const back = new Date(ms);
  // Date.UTC rolls February 30th over into March and 24:00 into the next day: a time that
  // does not read back as typed is not one.
  const readsBack =
    back.getUTCFullYear() === year && back.getUTCMonth() === month - 1 && back.getUTCDate() === day && back.getUTCHours() === hour && back.getUTCMinutes() === minute && back.getUTCSeconds() === second;
  if (!readsBack || year < 1970) return problem;
  return { ms };
}
