/**
 * `verifyWebhookAsync`: Standard Webhooks verification of a Bookkeeper event on
 * Web Crypto, for every runtime (edge workers, Deno, Bun, browsers, Node).
 */
import {
  resolveVerifyOptions,
  verifiedEvent,
  verifyEventOptionKeys,
  type VerifyWebhookOptions,
  type WebhookEvent,
  type WebhookMessage,
} from '../signing/verify-signature.js';
import { verifySignatureAsync } from './verify-webhook-signature-async.js';

/**
 * Verifies a received webhook on Web Crypto and resolves to its event. Same
 * arguments, results and error codes as `verifyWebhook`; runs in every runtime
 * with `crypto.subtle` (Node, Deno, Bun, Cloudflare Workers, Vercel Edge, browsers).
 * Every failure is a rejection, never a synchronous throw.
 *
 * @typeParam TEvent - the event type the caller expects (not checked at run time).
 * @param message - `{ body, headers }`: the raw body and the request headers.
 * @param options - `{ secrets, toleranceSeconds?, now?, environment? }`.
 * @returns `{ id, type, timestamp, environment?, data }`.
 * @throws SignatureVerificationError, ConfigError, ValidationError as `verifyWebhook`.
 *
 * @example
 * ```ts
 * const event = await verifyWebhookAsync(
 *   { body: await request.text(), headers: request.headers },
 *   { secrets: env.WEBHOOK_SECRET },
 * );
 * ```
 */
export async function verifyWebhookAsync<TEvent extends WebhookEvent = WebhookEvent>(
  message: WebhookMessage,
  options: VerifyWebhookOptions,
): Promise<TEvent> {
  const resolved = resolveVerifyOptions(options, verifyEventOptionKeys);
  return verifiedEvent<TEvent>(await verifySignatureAsync(message, resolved), resolved.environment);
}
