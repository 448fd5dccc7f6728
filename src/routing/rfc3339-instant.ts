/**
 * `rfc3339InstantMs`: the instant an RFC 3339 timestamp names, in epoch milliseconds, or
 * `NaN` for any other string. The payload filter's ordering operators compare timestamps
 * by instant with it, once per evaluated value, so it reads character codes in place: no
 * regex, no `Date`, no allocation.
 *
 * Taken: `YYYY-MM-DDTHH:MM:SS`, an optional fraction (`.` and one or more digits), and a
 * zone, `Z` or `±HH:MM` (`T` and `Z` may be lower case, as RFC 3339 §5.6 allows). Years
 * 0000–9999 of the proleptic Gregorian calendar. Refused (`NaN`): a date that does not
 * exist (month 13, February 30th, February 29th outside a leap year), hour 24, second 60
 * (a leap second has no instant of its own in epoch time), an offset beyond 23:59, a
 * missing zone or seconds, ISO 8601's other forms (`20260101T000000Z`, `+0200`, a space
 * for `T`), and anything before or after.
 *
 * Millisecond precision: digits of the fraction past the third are read and ignored
 * (truncated), so `…00.0001Z` and `…00.0002Z` are the same instant.
 */

function digitAt(text: string, index: number): number {
  // charCodeAt past the end is NaN, and NaN fails both comparisons.
  const value = text.charCodeAt(index) - 48;
  return value >= 0 && value <= 9 ? value : -1;
}

function twoDigitsAt(text: string, index: number): number {
  const tens = digitAt(text, index);
  const units = digitAt(text, index + 1);
  return tens < 0 || units < 0 ? -1 : tens * 10 + units;
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

const daysInMonth = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Days from 1970-01-01 to the date (proleptic Gregorian), after Howard Hinnant's
 * `days_from_civil`. `Date.UTC` would do it too, but it reads years 0–99 as 1900–1999.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

const dash = 45;
const colon = 58;
const dot = 46;
const plus = 43;

/** Epoch ms of an RFC 3339 timestamp (see the module's header for what is taken), else `NaN`. */
export function rfc3339InstantMs(text: string): number {
  if (text.length < 20) return Number.NaN;
  const century = twoDigitsAt(text, 0);
  const yearOfCentury = twoDigitsAt(text, 2);
  const month = twoDigitsAt(text, 5);
  const day = twoDigitsAt(text, 8);
  const separator = text.charCodeAt(10);
  const hour = twoDigitsAt(text, 11);
  const minute = twoDigitsAt(text, 14);
  const second = twoDigitsAt(text, 17);
  if (
    century < 0 ||
    yearOfCentury < 0 ||
    text.charCodeAt(4) !== dash ||
    text.charCodeAt(7) !== dash ||
    (separator !== 84 && separator !== 116) ||
    text.charCodeAt(13) !== colon ||
    text.charCodeAt(16) !== colon ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59
  ) {
    return Number.NaN;
  }
  const year = century * 100 + yearOfCentury;
  if (day > (month === 2 && isLeapYear(year) ? 29 : daysInMonth[month - 1]!)) return Number.NaN;

  let index = 19;
  let milliseconds = 0;
  if (text.charCodeAt(index) === dot) {
    index++;
    let digits = 0;
    for (let digit = digitAt(text, index); digit >= 0; digit = digitAt(text, ++index)) {
      if (digits < 3) milliseconds = milliseconds * 10 + digit;
      digits++;
    }
    if (digits === 0) return Number.NaN;
    if (digits === 1) milliseconds *= 100;
    else if (digits === 2) milliseconds *= 10;
  }

  let offsetSeconds = 0;
  const zone = text.charCodeAt(index);
  if (zone === 90 || zone === 122) {
    if (index + 1 !== text.length) return Number.NaN;
  } else if (zone === plus || zone === dash) {
    const offsetHours = twoDigitsAt(text, index + 1);
    const offsetMinutes = twoDigitsAt(text, index + 4);
    if (index + 6 !== text.length || text.charCodeAt(index + 3) !== colon || offsetHours < 0 || offsetHours > 23 || offsetMinutes < 0 || offsetMinutes > 59) {
      return Number.NaN;
    }
    offsetSeconds = (zone === plus ? 1 : -1) * (offsetHours * 3600 + offsetMinutes * 60);
  } else {
    return Number.NaN;
  }
  return (daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds) * 1000 + milliseconds;
}
