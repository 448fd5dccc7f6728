/**
 * A loopback receiver that verifies what it gets as a consumer would, and the parts of a
 * received request the signature tests look at.
 */
import { isWebhookError } from '../../src/index.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import type { LoopbackReceiver, ReceivedRequest } from './loopback-receiver.js';

/** Makes `server` answer 204 to a request whose signature verifies with `keys()` (secrets or public keys), 401 with the error's code to any other. */
export function verifyingWith(server: LoopbackReceiver, keys: () => string[]): void {
  server.responder = (request) => {
    try {
      verifyWebhook(messageOf(request), { secrets: keys() });
      return undefined;
    } catch (error) {
      return { status: 401, body: isWebhookError(error) ? error.code : String(error) };
    }
  };
}

/** The request as the verifiers take it. */
export function messageOf(request: ReceivedRequest) {
  return { body: request.body, headers: request.headers as Record<string, string> };
}

/** The scheme of each entry of the request's `webhook-signature` (`v1`, `v1a`), in order. */
export function schemesOf(request: ReceivedRequest): string[] {
  return String(request.headers['webhook-signature']).split(' ').map((entry) => entry.slice(0, entry.indexOf(',')));
}
