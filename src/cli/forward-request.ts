/**
 * `listen --forward-to`: the received request re-sent to the app byte for byte — the same
 * body and the same headers (but those that describe one hop: host, connection, length
 * framing), so that the app verifies exactly what the sender signed.
 */
import { request } from 'undici';

/** Headers that belong to one connection, not to the message (RFC 9110 §7.6.1), plus host and the length. */
const hopHeaders = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length']);

/** What the app answered, or why it could not. */
export type ForwardResult = { status: number; body: Buffer; contentType: string | undefined; durationMs: number } | { error: string; durationMs: number };

/** How long the app may take to answer a forwarded request. */
const FORWARD_TIMEOUT_MS = 30_000;

/** POSTs `body` with the headers of `rawHeaders` (Node's name/value list, order and duplicates kept) to `url`. */
export async function forwardRequest(url: string, method: string, rawHeaders: readonly string[], body: Buffer): Promise<ForwardResult> {
  const headers: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!hopHeaders.has(rawHeaders[i]!.toLowerCase())) headers.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  const started = performance.now();
  try {
    const response = await request(url, { method: method as 'POST', headers, body, headersTimeout: FORWARD_TIMEOUT_MS, bodyTimeout: FORWARD_TIMEOUT_MS });
    const answer = Buffer.from(await response.body.arrayBuffer());
    const contentType = response.headers['content-type'];
    return { status: response.statusCode, body: answer, contentType: Array.isArray(contentType) ? contentType[0] : contentType, durationMs: performance.now() - started };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { error: typeof code === 'string' ? code : error instanceof Error ? error.message : String(error), durationMs: performance.now() - started };
  }
}
