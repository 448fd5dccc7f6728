/**
 * Request headers a subscription may not set: the ones the library sets itself (a custom
 * one beside it would be sent twice), and the ones that would break the request (framing,
 * hop-by-hop, an encoding the body does not have). One list for the registry, which refuses
 * them, and the dispatcher, which never sends one stored before the registry refused it.
 */
import { ENVIRONMENT_HEADER } from '../signing/environment-name.js';

const reservedHeaders = new Set([
  'content-type',
  'user-agent',
  'content-length',
  'content-encoding',
  'proxy-connection',
  'http2-settings',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  // Only the instance's `environment` option sets it: a subscription's own would claim another.
  ENVIRONMENT_HEADER,
]);

/** True for a header name (any case) that a subscription's `headers` may not carry. */
export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return reservedHeaders.has(lower) || lower.startsWith('webhook-');
}
