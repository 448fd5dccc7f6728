/**
 * The start of a response body for the attempt log and the test log: at most a given number
 * of UTF-8 bytes, cut at a character boundary, as a string of its own.
 */

/**
 * The first `maxBytes` of `text` as UTF-8, cut at a character boundary, as a new
 * string: `text.slice()` would be a V8 sliced string keeping the whole response body
 * (up to `http.maxResponseBytes`) alive for as long as the attempt record lives.
 */
export function utf8Snippet(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text.length > maxBytes ? text.slice(0, maxBytes) : text, 'utf8');
  if (bytes.length <= maxBytes) return bytes.toString('utf8');
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return bytes.toString('utf8', 0, end);
}

/**
 * What an attempt (or a test request) keeps of the response body: its first `snippetBytes`
 * (`http.responseSnippetBytes`); `null` without a body, for an empty one, or with 0 bytes kept.
 */
export function responseSnippet(body: string | null, snippetBytes: number): string | null {
  return body === null || body === '' || snippetBytes === 0 ? null : utf8Snippet(body, snippetBytes);
}
