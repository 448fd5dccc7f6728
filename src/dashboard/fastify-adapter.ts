/**
 * The dashboard in Fastify (4 and 5): a plugin with one catch-all route under the prefix it
 * is registered with, whose bodies arrive as raw bytes and go to the Fetch handler as they
 * came. Registered without `fastify-plugin`, it is encapsulated: the app's own routes keep
 * their parsers. Fastify is not imported, not even its types (see {@link FastifyDashboardInstance}).
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstanceLike } from '../receiver/fastify-plugin.js';
import { urlAndHeadersOf } from '../feed/to-node-handler.js';

/** The part of a Fastify request the plugin reads. */
export interface FastifyDashboardRequest {
  /** The URL as the client asked for it, prefix included. */
  url: string;
  method: string;
  raw: IncomingMessage;
  body?: unknown;
}

/** The part of a Fastify reply the plugin uses. */
export interface FastifyDashboardReply {
  code(statusCode: number): FastifyDashboardReply;
  header(name: string, value: string | string[]): FastifyDashboardReply;
  send(payload?: Uint8Array | string): FastifyDashboardReply;
}

/** The part of a Fastify instance the plugin uses: the receiver plugin's parser calls, and `route`. */
export interface FastifyDashboardInstance extends Pick<FastifyInstanceLike, 'removeAllContentTypeParsers' | 'addContentTypeParser'> {
  route(options: {
    method: string[];
    url: string;
    handler: (request: FastifyDashboardRequest, reply: FastifyDashboardReply) => Promise<unknown>;
  }): unknown;
}

/** A Fastify plugin: give it to `app.register(plugin, { prefix })`. */
export type FastifyDashboardPlugin = (instance: FastifyDashboardInstance, options: unknown) => Promise<void>;

function toRequest(request: FastifyDashboardRequest): Request {
  const { url, headers } = urlAndHeadersOf(request.raw, request.url);
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && request.body instanceof Uint8Array;
  return new Request(url, { method: request.method, headers, ...(hasBody ? { body: request.body as Uint8Array<ArrayBuffer> } : {}) });
}

/** @internal The plugin `dashboard.fastify()` returns. */
export function fastifyDashboardPlugin(handler: (request: Request) => Promise<Response>): FastifyDashboardPlugin {
  return async (instance) => {
    instance.removeAllContentTypeParsers();
    // One byte over the form limit (64 KiB): the handler answers 413 itself.
    instance.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 65_537 }, (_request, body, done) => done(null, body));
    const handle = async (request: FastifyDashboardRequest, reply: FastifyDashboardReply) => {
      const response = await handler(toRequest(request));
      reply.code(response.status);
      response.headers.forEach((value, name) => {
        if (name !== 'set-cookie') reply.header(name, value);
      });
      const cookies = response.headers.getSetCookie();
      if (cookies.length > 0) reply.header('set-cookie', cookies);
      return reply.send(new Uint8Array(await response.arrayBuffer()));
    };
    // Every method the other adapters give the gate too, so that it answers them as they do
    // (after authorize: 405 with Allow on a page, 404 elsewhere), not Fastify's own 404.
    // OPTIONS is left to the app (a CORS plugin's preflight).
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'];
    instance.route({ method: methods, url: '/', handler: handle });
    instance.route({ method: methods, url: '/*', handler: handle });
  };
}
