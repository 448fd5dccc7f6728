/**
 * The fields of an action's request: a form (`application/x-www-form-urlencoded`, what the
 * dashboard's own pages post) or a flat JSON object (an API client, or a body that a parser
 * in front of the dashboard had already read). At most 64 KiB.
 */
import { describeValue } from '../errors.js';
import { readCappedStream } from '../receiver/web-handler.js';
import { DashboardRefusal } from './dashboard-context.js';

const maxBodyBytes = 65_536;

/**
 * How deep a JSON field's value may nest (a scalar 0, `[]` 1): past any field's needs (a
 * payload filter's logical operators nest at most 8 deep), far short of the stack that
 * writing it back as JSON takes, which a few thousand levels overflow.
 */
const maxFieldDepth = 64;

/** Does `value` nest deeper than `limit`? Walked without recursion, as deep as it is. */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 0]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth === limit) return true;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}

/**
 * Refuses bytes that are not UTF-8 rather than storing U+FFFD in their place: a form posted in
 * another charset would otherwise land in a description, a reason or the change log garbled.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true });

async function readText(request: Request): Promise<string> {
  const bytes = await readCappedStream(request.body, maxBodyBytes);
  if (bytes === null) throw new DashboardRefusal(413, 'PAYLOAD_TOO_LARGE', `Expected a form of at most ${maxBodyBytes} bytes`);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new DashboardRefusal(400, 'INPUT_INVALID', 'Expected a body of UTF-8 text, got bytes that are not UTF-8');
  }
}

export async function readForm(request: Request): Promise<URLSearchParams> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const text = await readText(request);
  if (text === '') return new URLSearchParams();
  if (type === 'application/x-www-form-urlencoded') return new URLSearchParams(text);
  if (type === 'application/json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new DashboardRefusal(400, 'INPUT_INVALID', 'Expected a JSON object of fields, got text that is not JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DashboardRefusal(400, 'INPUT_INVALID', 'Expected a JSON object of fields');
    }
    const fields = new URLSearchParams();
    for (const [name, field] of Object.entries(value)) {
      if (nestsDeeperThan(field, maxFieldDepth)) {
        throw new DashboardRefusal(400, 'INPUT_INVALID', `Expected the JSON field ${describeValue(name)} to nest at most ${maxFieldDepth} deep, got one nested deeper`);
      }
      for (const item of Array.isArray(field) ? field : [field]) {
        if (item === null || item === undefined) continue;
        fields.append(name, typeof item === 'object' ? JSON.stringify(item) : String(item));
      }
    }
    return fields;
  }
  throw new DashboardRefusal(415, 'UNSUPPORTED_MEDIA_TYPE', `Expected a form (application/x-www-form-urlencoded) or JSON, got ${type === '' ? 'no content type' : type}`);
}
