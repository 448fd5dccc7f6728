/**
 * `rawRequest`: an HTTP/1.1 request sent with its request target and `Host` exactly as given
 * (`//evil.example/admin`, the absolute form `http://evil.example/admin`, a Host of another
 * name), which `fetch` would normalise or set itself.
 */
import { request as httpRequest } from 'node:http';

/** What came back: the status and the body as text. */
export interface RawResponse {
  status: number;
  text: string;
}

export interface RawRequestOptions {
  /** @defaultValue 'GET' */
  method?: string;
  /** A `host` here replaces the one Node would send (the server's address). */
  headers?: Record<string, string>;
  body?: string;
}

/** Sends `target` as the request target to the server at `origin` (`http://127.0.0.1:port`). */
export function rawRequest(origin: string, target: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ hostname, port, path: target, method: options.method ?? 'GET', headers: options.headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, text }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}
