/**
 * Page cursors, one format and one strictness for every adapter: a tag naming the list
 * (so a subscription cursor handed to the delivery log is refused rather than misread)
 * and the last id of the page, base64url-encoded. Opaque to callers.
 */
import { describeValue, ValidationError } from '../../errors.js';

/**
 * The lists that page: subscriptions and change records (oldest first), deliveries, events and
 * a subscription's test log (newest first), the event feed (events oldest first), and a
 * subscription's blocked ordering keys (by their blocking delivery's id, oldest first).
 */
export type CursorList = 'subscriptions' | 'deliveries' | 'events' | 'changes' | 'feed' | 'tests' | 'blocked';

const tags: Record<CursorList, string> = { subscriptions: 's', deliveries: 'd', events: 'e', changes: 'c', feed: 'f', tests: 't', blocked: 'b' };
const base64url = /^[A-Za-z0-9_-]+$/;
// Never in an id: a control character or U+FFFD is what a decoder makes of stray bytes.
const unreadable = /[\u0000-\u001f\u007f\ufffd]/;

/** The cursor of the page after the one ending at `lastId`. */
export function encodeCursor(list: CursorList, lastId: string): string {
  return Buffer.from(`${tags[list]}:${lastId}`, 'utf8').toString('base64url');
}

/**
 * The last id of the previous page of `list`.
 *
 * @throws ValidationError `CURSOR_INVALID` for anything but a cursor this list gave out.
 */
export function decodeCursor(list: CursorList, cursor: unknown): string {
  return decodeCursorText(list, cursor) ?? refuseCursor(cursor);
}

function refuseCursor(cursor: unknown): never {
  throw new ValidationError('CURSOR_INVALID', `Expected \`cursor\` to be a cursor from a previous page of this list, got ${describeValue(cursor)}.`, {
    field: 'cursor',
  });
}

/** The cursor of the change-log page after the record numbered `sequence`. */
export function encodeSequenceCursor(sequence: number): string {
  return encodeCursor('changes', String(sequence));
}

/**
 * The `sequence` of the last record of the previous change-log page.
 * @throws ValidationError `CURSOR_INVALID` for anything but a cursor the change log gave out.
 */
export function decodeSequenceCursor(cursor: unknown): number {
  const text = decodeCursorText('changes', cursor);
  if (text === null || !/^[1-9][0-9]{0,14}$/.test(text)) refuseCursor(cursor);
  return Number(text);
}

function decodeCursorText(list: CursorList, cursor: unknown): string | null {
  if (typeof cursor === 'string' && base64url.test(cursor)) {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    const prefix = `${tags[list]}:`;
    // Node's base64url decoder skips what it cannot read: the round trip refuses that.
    if (text.length > prefix.length && text.startsWith(prefix) && !unreadable.test(text) && encodeCursor(list, text.slice(prefix.length)) === cursor) {
      return text.slice(prefix.length);
    }
  }
  return null;
}
