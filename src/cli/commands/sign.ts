/**
 * `bookkeeper-webhooks sign`: the three Standard Webhooks headers of a body, by the
 * library's own `signWebhook`, or a ready curl command that sends it signed.
 */
import { createId } from '../../ids.js';
import { signWebhook } from '../../signing/sign-webhook.js';
import { booleanFlag, jsonOption, stringFlag, type Command } from '../command.js';
import { httpUrlFlag } from '../http-url-flag.js';
import { readInput } from '../read-input.js';
import { keyedSecretHelp, secretsOf } from '../secrets-flag.js';
import { shellQuote } from '../shell-quote.js';
import { UsageError } from '../usage-error.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const signCommand: Command = {
  name: 'sign',
  summary: 'Sign a body: print the webhook-id, webhook-timestamp and webhook-signature headers',
  positionals: ['body-file?'],
  options: {
    secret: { type: 'string', multiple: true },
    id: { type: 'string' },
    timestamp: { type: 'string' },
    curl: { type: 'string' },
    ...jsonOption,
  },
  help: `Usage: bookkeeper-webhooks sign [body-file] --secret <whsec_…|whsk_…> [options]

Signs the exact bytes of body-file (or of stdin, when it is omitted or "-") as
Standard Webhooks 1.0 and prints the three headers a sender adds: a v1 (HMAC)
signature with a whsec_ secret, a v1a (Ed25519) one with a whsk_ secret key.

Options:
  ${keyedSecretHelp('whsk_')};
                          repeat it to sign with several (a rotation, or a move from v1 to v1a)
  --id <msg_…>            the webhook-id (default: a new msg_ id)
  --timestamp <seconds>   the webhook-timestamp, unix seconds (default: now)
  --curl <url>            print a curl command that POSTs the signed body to <url>
  --json                  print { id, timestamp, headers } as JSON
  -h, --help              show this help

Example:
  bookkeeper-webhooks sign event.json --secret whsec_… --curl http://localhost:3000/webhooks | sh`,

  async run(args, io) {
    const secrets = secretsOf(args, io, this);
    const file = args.positionals[0];
    const body = await readInput(io, file, 'the body to sign', this.name);
    const id = stringFlag(args, 'id') ?? createId('msg', Date.now());
    const timestamp = timestampFlag(stringFlag(args, 'timestamp'), this.name);
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook({ id, timestamp, body, secrets }) };
    const url = httpUrlFlag(stringFlag(args, 'curl'), 'curl', this.name);
    if (url !== undefined) {
      io.out(curlCommand(url, headers, file === undefined || file === '-' ? { text: bodyText(body) } : { path: file }));
    } else if (booleanFlag(args, 'json')) {
      io.out(JSON.stringify({ id, timestamp, headers }, null, 2));
    } else {
      for (const [name, value] of Object.entries(headers)) io.out(`${name}: ${value}`);
    }
    return 0;
  },
};

function timestampFlag(value: string | undefined, command: string): number {
  if (value === undefined) return Math.floor(Date.now() / 1000);
  if (!/^\d{1,12}$/.test(value)) throw new UsageError(`Expected --timestamp to be unix seconds (digits), got ${JSON.stringify(value)}`, command);
  return Number(value);
}

function bodyText(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new UsageError('Expected a UTF-8 body on stdin for --curl (a binary body must come from a file, which curl sends byte for byte)', 'sign');
  }
}

/** A curl command sending the body byte for byte (`--data-binary`), with the signed headers. */
function curlCommand(url: string, headers: Record<string, string>, body: { text: string } | { path: string }): string {
  const lines = [`curl -X POST ${shellQuote(url)}`, `  -H ${shellQuote('content-type: application/json')}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`  -H ${shellQuote(`${name}: ${value}`)}`);
  lines.push('text' in body ? `  --data-binary ${shellQuote(body.text)}` : `  --data-binary @${shellQuote(body.path)}`);
  return lines.join(' \\\n');
}
