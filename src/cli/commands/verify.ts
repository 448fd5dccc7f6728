/**
 * `bookkeeper-webhooks verify`: checks a captured request with the receiver's own
 * `verifyWebhookSignature`, and prints the verdict — and the error code when it fails.
 */
import { SignatureVerificationError } from '../../errors.js';
import { verifyWebhookSignature } from '../../receiver/verify-webhook-signature.js';
import { booleanFlag, jsonOption, stringFlag, stringFlags, type Command, type CommandArgs } from '../command.js';
import type { CliIo } from '../cli-io.js';
import { CaptureFormatError, parseHeaderText, parseHttpMessage, type CapturedRequest } from '../captured-request.js';
import { readInput } from '../read-input.js';
import { keyedSecretHelp, secretsOf } from '../secrets-flag.js';
import { UsageError } from '../usage-error.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'Verify a captured request (headers and raw body, or a raw HTTP message) with a secret',
  positionals: ['body-file?'],
  options: {
    secret: { type: 'string', multiple: true },
    headers: { type: 'string' },
    header: { type: 'string', short: 'H', multiple: true },
    message: { type: 'string' },
    'ignore-timestamp': { type: 'boolean' },
    ...jsonOption,
  },
  help: `Usage: bookkeeper-webhooks verify [body-file] (--headers <file> | -H 'name: value' …) --secret <whsec_…|whpk_…>
       bookkeeper-webhooks verify --message <http-file> --secret <whsec_…|whpk_…>

Verifies a captured webhook as a receiver does (Standard Webhooks 1.0: headers,
timestamp within ±300 s, signature over the exact body bytes): v1 signatures
with a whsec_ secret, v1a (Ed25519) ones with a whpk_ public key. Prints "valid"
or "invalid" with the error code; exits 0 when valid, 1 when not.

Input (a file argument of "-" reads stdin):
  body-file               the raw body (default: stdin), with the headers from:
  --headers <file>        "name: value" lines (what \`sign\` prints) or a JSON object
  -H, --header <line>     one "name: value" header; repeatable
  --message <file>        instead: a raw HTTP request (request line, headers, blank line, body)

Options:
  ${keyedSecretHelp('whpk_')};
                          repeat it to accept any of several
  --ignore-timestamp      check the signature of an old capture, whatever its age
  --json                  print { valid, id, timestamp, type?, code?, message? }
  -h, --help              show this help`,

  async run(args, io) {
    const secrets = secretsOf(args, io, this);
    let request: CapturedRequest;
    try {
      request = await capturedRequest(args, io, this);
    } catch (error) {
      if (!(error instanceof CaptureFormatError)) throw error;
      return report(io, args, { valid: false, code: 'CAPTURE_UNREADABLE', message: error.message });
    }
    const ignoreTimestamp = booleanFlag(args, 'ignore-timestamp');
    const now = ignoreTimestamp ? signedAt(request.headers['webhook-timestamp']) : undefined;
    try {
      const verified = verifyWebhookSignature({ body: request.body, headers: request.headers }, now === undefined ? { secrets } : { secrets, now });
      return report(io, args, { valid: true, id: verified.id, timestamp: verified.timestamp, type: envelopeType(verified.body), ignoredTimestamp: ignoreTimestamp });
    } catch (error) {
      if (!(error instanceof SignatureVerificationError)) throw error;
      return report(io, args, { valid: false, code: error.code, message: error.message });
    }
  },
};

type Verdict =
  | { valid: true; id: string; timestamp: number; type: string | undefined; ignoredTimestamp: boolean }
  | { valid: false; code: string; message: string };

async function capturedRequest(args: CommandArgs, io: CliIo, command: Command): Promise<CapturedRequest> {
  const message = stringFlag(args, 'message');
  const headerFile = stringFlag(args, 'headers');
  const headerLines = stringFlags(args, 'header');
  if (message !== undefined) {
    if (headerFile !== undefined || headerLines.length > 0 || args.positionals.length > 0) {
      throw new UsageError('Expected either --message <http-file> or a body with --headers/-H, got both', command.name);
    }
    return parseHttpMessage(await readInput(io, message, 'the HTTP message', command.name));
  }
  if (headerFile === undefined && headerLines.length === 0) {
    throw new UsageError('Expected the request headers (--headers <file> or -H "name: value") or --message <http-file>, got neither', command.name);
  }
  if (headerFile === '-' && (args.positionals[0] ?? '-') === '-') throw new UsageError('Expected at most one of the headers and the body on stdin, got both', command.name);
  const headers = headerFile === undefined ? {} : parseHeaderText((await readInput(io, headerFile, 'the headers', command.name)).toString('utf8'));
  Object.assign(headers, parseHeaderText(headerLines.join('\n')));
  return { headers, body: await readInput(io, args.positionals[0], 'the raw body', command.name) };
}

/** The capture's own signing time, as `now`: its age then counts for nothing. `undefined` for a malformed one, which the verifier reports. */
function signedAt(header: string | undefined): Date | undefined {
  return header !== undefined && /^\d{1,12}$/.test(header) ? new Date(Number(header) * 1000) : undefined;
}

/** The Bookkeeper envelope's `type`, when the body is one (any signed body verifies). */
function envelopeType(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { type?: unknown };
    return typeof parsed.type === 'string' ? parsed.type : undefined;
  } catch {
    return undefined;
  }
}

function report(io: CliIo, args: CommandArgs, verdict: Verdict): number {
  if (booleanFlag(args, 'json')) {
    io.out(JSON.stringify(verdict, null, 2));
  } else if (verdict.valid) {
    const { green, bold, dim } = io.style;
    const signed = new Date(verdict.timestamp * 1000).toISOString();
    const type = verdict.type === undefined ? '' : `  type ${verdict.type}`;
    io.out(`${green(bold('valid'))}  webhook-id ${verdict.id}  signed ${signed}${type}`);
    if (verdict.ignoredTimestamp) io.out(dim('(timestamp not checked: --ignore-timestamp)'));
  } else {
    const { red, bold } = io.style;
    io.out(`${red(bold('invalid'))}  ${verdict.code}: ${verdict.message}`);
  }
  return verdict.valid ? 0 : 1;
}
