/**
 * Posts once with the undici transport and a long timeout, prints the result as JSON,
 * and leaves the transport open: the process must still exit by itself, with the
 * request's deadline far ahead.
 *
 * argv: <url>
 */
import { createUndiciTransport } from '../../src/delivery/undici-transport.js';

const [url] = process.argv.slice(2);
if (!url) throw new Error('usage: <url>');
const transport = createUndiciTransport();
const result = await transport.send({ url, headers: {}, body: '{}', timeoutMs: 60_000, maxResponseBytes: 64, guard: null });
process.stdout.write(`${JSON.stringify(result)}\n`);
