/**
 * A captured webhook request as `verify` reads it: a raw HTTP message (`POST … HTTP/1.1`,
 * headers, a blank line, the body), or headers on their own (`name: value` lines, as `sign`
 * prints them, or a JSON object) beside a body file.
 */

/** Headers by lower-case name; a repeated header's values joined with `, ` as HTTP folds them. */
export type CapturedHeaders = Record<string, string>;

/** A request: its headers and its exact body bytes. */
export interface CapturedRequest {
  headers: CapturedHeaders;
  body: Buffer;
}

/** Thrown for text that is no HTTP message or header list; `verify` exits 1 with it. */
export class CaptureFormatError extends Error {
  override readonly name = 'CaptureFormatError';
}

/** `name: value` lines (blank lines ignored) or a JSON object of header names to values. */
export function parseHeaderText(text: string): CapturedHeaders {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return headersFromJson(trimmed);
  const headers: CapturedHeaders = {};
  for (const line of trimmed.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    addHeaderLine(headers, line);
  }
  return headers;
}

/**
 * A raw HTTP request: request line, header lines, an empty line, then the body. Lines may
 * end in CRLF (a capture off the wire) or LF (one saved by an editor); the body is taken
 * byte for byte, cut at `content-length` when the capture holds more.
 */
export function parseHttpMessage(raw: Buffer): CapturedRequest {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const [end, separator] = crlf !== -1 && (lf === -1 || crlf < lf) ? [crlf, 4] : [lf, 2];
  if (end === -1) throw new CaptureFormatError('Expected an HTTP message: a request line, headers, an empty line and the body; found no empty line');
  const [requestLine = '', ...lines] = raw.subarray(0, end).toString('latin1').split(/\r?\n/);
  if (!/^[A-Z]+ \S+ HTTP\/\d(\.\d)?$/.test(requestLine.trim())) {
    throw new CaptureFormatError(`Expected a request line such as "POST /webhooks HTTP/1.1", got ${JSON.stringify(requestLine.slice(0, 80))}`);
  }
  const headers: CapturedHeaders = {};
  for (const line of lines) addHeaderLine(headers, line);
  if (headers['transfer-encoding'] !== undefined) {
    throw new CaptureFormatError(`Expected a body sent whole (content-length), got transfer-encoding: ${headers['transfer-encoding']}: save the decoded body and pass it as a file with --headers`);
  }
  let body = raw.subarray(end + separator);
  const length = headers['content-length'];
  if (length !== undefined) {
    const bytes = Number(length);
    if (!/^\d+$/.test(length) || bytes > body.length) {
      throw new CaptureFormatError(`Expected a body of content-length ${length} bytes, got ${body.length} bytes`);
    }
    body = body.subarray(0, bytes);
  }
  return { headers, body: Buffer.from(body) };
}

function addHeaderLine(headers: CapturedHeaders, line: string): void {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new CaptureFormatError(`Expected a header line "name: value", got ${JSON.stringify(line.slice(0, 80))}`);
  const name = line.slice(0, colon).trim().toLowerCase();
  const value = line.slice(colon + 1).trim();
  headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
}

function headersFromJson(text: string): CapturedHeaders {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CaptureFormatError(`Expected the headers as JSON { "name": "value" }, got text that does not parse (${(error as Error).message})`);
  }
  const headers: CapturedHeaders = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new CaptureFormatError(`Expected header ${JSON.stringify(name)} to be a string, got ${typeof value}`);
    headers[name.toLowerCase()] = value;
  }
  return headers;
}
