/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date (§5.6.7) in one of
 * its three forms — IMF-fixdate, obsolete RFC 850, asctime — always UTC. Anything
 * else (negative or fractional numbers, free text) is unreadable: `null`, so the
 * policy's own delay applies. `Date.parse` is not used: it accepts far more than
 * the RFC and reads asctime in the host's time zone.
 */

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const day = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const longDay = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const month = `(${months.join('|')})`;
const time = '(\\d{2}):(\\d{2}):(\\d{2})';
// Sun, 06 Nov 1994 08:49:37 GMT
const imfFixdate = new RegExp(`^${day}, (\\d{2}) ${month} (\\d{4}) ${time} GMT$`);
// Sunday, 06-Nov-94 08:49:37 GMT
const rfc850 = new RegExp(`^${longDay}, (\\d{2})-${month}-(\\d{2}) ${time} GMT$`);
// Sun Nov  6 08:49:37 1994
const asctime = new RegExp(`^${day} ${month} ([ \\d]\\d) ${time} (\\d{4})$`);

function utc(year: number, monthName: string, date: number, hours: number, minutes: number, seconds: number): number | null {
  const monthIndex = months.indexOf(monthName);
  if (date < 1 || date > 31 || hours > 23 || minutes > 59 || seconds > 60) return null;
  const value = Date.UTC(year, monthIndex, date, hours, minutes, Math.min(seconds, 59));
  // Reject dates that do not exist (31 Feb rolls over in Date.UTC).
  return new Date(value).getUTCDate() === date ? value : null;
}

/** Parses an HTTP-date to epoch ms, or `null`. */
export function parseHttpDate(text: string): number | null {
  let match = imfFixdate.exec(text);
  if (match) return utc(Number(match[3]), match[2]!, Number(match[1]), Number(match[4]), Number(match[5]), Number(match[6]));
  match = rfc850.exec(text);
  if (match) {
    // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
    const twoDigits = Number(match[3]);
    const thisYear = new Date().getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + twoDigits;
    if (year > thisYear + 50) year -= 100;
    return utc(year, match[2]!, Number(match[1]), Number(match[4]), Number(match[5]), Number(match[6]));
  }
  match = asctime.exec(text);
  if (match) return utc(Number(match[6]), match[1]!, Number(match[2]!.trim()), Number(match[3]), Number(match[4]), Number(match[5]));
  return null;
}

/** The wait in ms from `now` that a `Retry-After` value asks for, or `null` when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | null {
  if (value === undefined || value === null) return null;
  const trimmed = value.trim();
  if (trimmed === '') return null;
  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed);
    return Number.isSafeInteger(seconds) ? seconds * 1000 : null;
  }
  const date = parseHttpDate(trimmed);
  return date === null ? null : Math.max(0, date - now);
}
