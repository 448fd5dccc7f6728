/**
 * Property-based fuzzing of the receiver's `verifyWebhook` (and `verifyWebhookAsync`):
 * requests signed by `signWebhook`, then mutated in the body, the id, the timestamp,
 * the signature, the header names and the header structure. An untouched (or only
 * cosmetically changed) request must verify; anything else must be refused; the
 * only exception ever thrown is a `SignatureVerificationError` with a documented code.
 *
 * Four properties of 25,000 runs each in CI (100,000 requests), then the same four
 * generators at 1,250 runs each through both verifiers, which must agree; a short
 * count locally (test/support/property-runs.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SignatureVerificationError,
  verifyWebhook,
  verifyWebhookAsync,
  type SignatureVerificationErrorCode,
  type VerifyWebhookOptions,
  type WebhookHeaders,
  type WebhookHeaderValue,
  type WebhookMessage,
} from '../../src/receiver/index.js';
import { generateSecret } from '../../src/signing/secret.js';
import { signWebhook } from '../../src/signing/sign-webhook.js';
import { propertyRuns } from '../support/property-runs.js';

const RUNS_SYNC = propertyRuns(25_000);
const RUNS_ASYNC = propertyRuns(1_250);

/** The codes `verifyWebhook` documents for a failed check. */
const DOCUMENTED_CODES: readonly SignatureVerificationErrorCode[] = [
  'WEBHOOK_MISSING_HEADER',
  'WEBHOOK_INVALID_TIMESTAMP',
  'WEBHOOK_TIMESTAMP_TOO_OLD',
  'WEBHOOK_TIMESTAMP_TOO_NEW',
  'WEBHOOK_INVALID_SIGNATURE',
  'WEBHOOK_NO_MATCHING_SIGNATURE',
  'WEBHOOK_INVALID_PAYLOAD',
];

const NOW_SECONDS = 1_780_000_000;
const TOLERANCE = 300; // the default toleranceSeconds
/** Secrets 0–3 may sign; 4 and 5 are only ever extra verifier secrets; 6 never verifies. */
const SECRETS = Array.from({ length: 7 }, () => generateSecret());
const FOREIGN_SECRET = SECRETS[6]!;

const encoder = new TextEncoder();
const lenientDecoder = new TextDecoder();

type Code = SignatureVerificationErrorCode;
type HeaderKey = 'id' | 'timestamp' | 'signature';
const HEADER_KEYS: readonly HeaderKey[] = ['id', 'timestamp', 'signature'];
const CANONICAL: Record<HeaderKey, string> = { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' };

type Expected = { accept: true } | { accept: false; codes: readonly Code[] };
const ACCEPT: Expected = { accept: true };
const refuse = (...codes: Code[]): Expected => ({ accept: false, codes });

interface Case {
  message: WebhookMessage;
  options: VerifyWebhookOptions;
  expected: Expected;
  /** The event an accepted request must yield. */
  event: { id: string; type: string; timestamp: string; data: unknown };
  /** What was done, for the counterexample report (values can be megabytes long, so built only on failure). */
  readonly label: string;
}

// ---------------------------------------------------------------- the signed request

interface Base {
  id: string;
  timestampSeconds: number;
  /** The verifier's clock, epoch milliseconds (the header has whole seconds, the clock does not). */
  nowMs: number;
  bodyText: string;
  bodyBytes: Uint8Array;
  signature: string;
  signerSecrets: string[];
  verifierSecrets: string[];
  options: VerifyWebhookOptions;
  event: Case['event'];
}

/** One printable ASCII character other than space (what a header token is made of). */
const tokenChar = fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code));
const printableChar = fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code));
const alphanumeric = fc.constantFrom(...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');

const baseArb: fc.Arbitrary<Base> = fc
  .record({
    id: fc.oneof(
      fc.string({ unit: tokenChar, minLength: 1, maxLength: 48 }),
      fc.tuple(fc.constantFrom('evt_', 'msg_'), fc.string({ unit: alphanumeric, minLength: 20, maxLength: 26 })).map(([prefix, rest]) => prefix + rest),
    ),
    offset: fc.integer({ min: -TOLERANCE, max: TOLERANCE }),
    nowMs: fc.integer({ min: 0, max: 999 }),
    type: fc.oneof(
      fc.constantFrom('payment.succeeded', 'refund.initiated', 'funds.depleted', 'invoice.paid'),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }),
    ),
    data: fc.jsonValue({ maxDepth: 2, stringUnit: 'grapheme' }),
    indent: fc.constantFrom(undefined, 2),
    signers: fc.subarray([0, 1, 2, 3], { minLength: 1, maxLength: 2 }),
    extraVerifierSecrets: fc.subarray([4, 5]),
    bothSignersVerify: fc.boolean(),
  })
  .map(({ id, offset, nowMs, type, data, indent, signers, extraVerifierSecrets, bothSignersVerify }) => {
    const timestampSeconds = NOW_SECONDS + offset;
    // The tolerance is compared in milliseconds: a timestamp exactly TOLERANCE s old is valid only on the second.
    const nowMsValid = NOW_SECONDS * 1000 + (offset === -TOLERANCE ? 0 : nowMs);
    const timestamp = new Date(timestampSeconds * 1000).toISOString();
    const bodyText = JSON.stringify({ id, type, timestamp, data }, null, indent);
    const signerSecrets = signers.map((index) => SECRETS[index]!);
    const signature = signWebhook({ id, timestamp: timestampSeconds, body: bodyText, secrets: signerSecrets });
    // The verifier knows one (or both) of the signing secrets, and maybe others.
    const known = bothSignersVerify ? signerSecrets : [signerSecrets[signerSecrets.length - 1]!];
    const secrets = [...extraVerifierSecrets.map((index) => SECRETS[index]!), ...known];
    return {
      id,
      timestampSeconds,
      nowMs: nowMsValid,
      bodyText,
      bodyBytes: encoder.encode(bodyText),
      signature,
      signerSecrets,
      verifierSecrets: secrets,
      options: { secrets: secrets.length === 1 ? secrets[0]! : secrets, now: new Date(nowMsValid) },
      event: { id, type, timestamp, data: (JSON.parse(bodyText) as { data: unknown }).data },
    };
  });

// ---------------------------------------------------------------- header assembly

type Entry = readonly [name: string, value: WebhookHeaderValue];
type Form = 'object' | 'headers';

/** A name spelled with the case of each letter taken from `mask`'s bits. */
function cased(name: string, mask: number): string {
  let out = '';
  for (let i = 0; i < name.length; i++) out += (mask >>> (i % 31)) & 1 ? name[i]!.toUpperCase() : name[i]!.toLowerCase();
  return out;
}

/** Another spelling of `name`, guaranteed to differ from `first`. */
function otherCasing(name: string, first: string, mask: number): string {
  const second = cased(name, mask);
  return second !== first ? second : first === name.toUpperCase() ? name.toLowerCase() : name.toUpperCase();
}

/**
 * Headers as a plain object or a Fetch `Headers`. `Headers` refuses some values
 * (controls, non-Latin-1) and trims others; when it would change what the verifier
 * reads, the plain object is used, so the expectation always holds for what is passed.
 */
function assemble(entries: readonly Entry[], form: Form): WebhookHeaders {
  if (form === 'headers') {
    try {
      const headers = new Headers();
      const joined = new Map<string, string[]>();
      for (const [name, value] of entries) {
        if (value === undefined) continue;
        for (const item of typeof value === 'string' ? [value] : value) {
          headers.append(name, item);
          const key = name.toLowerCase();
          joined.set(key, [...(joined.get(key) ?? []), item]);
        }
      }
      let faithful = true;
      for (const [key, values] of joined) if (headers.get(key) !== values.join(', ')) faithful = false;
      if (faithful) return headers;
    } catch {
      // A value Headers refuses: fall through to the plain object.
    }
  }
  const record: Record<string, WebhookHeaderValue> = {};
  for (const [name, value] of entries) record[name] = value;
  return record;
}

/** Unrelated headers, some of them shaped like ours (same length, same first letter). */
const DECOYS: readonly Entry[] = [
  ['content-type', 'application/json'],
  ['user-agent', 'Bookkeeper-Webhooks/1'],
  ['webhook-ix', 'evt_decoy'],
  ['webhook-timestamq', '1'],
  ['webhook-signaturf', 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='],
  ['x-webhook-id', 'evt_decoy'],
  ['webhook_signature', 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='],
  ['Webhook-Ids', 'evt_decoy'],
];

function plainEntries(base: Base, masks: readonly number[] = [0, 0, 0]): Entry[] {
  return [
    [cased(CANONICAL.id, masks[0]!), base.id],
    [cased(CANONICAL.timestamp, masks[1]!), String(base.timestampSeconds)],
    [cased(CANONICAL.signature, masks[2]!), base.signature],
  ];
}

function valueOf(base: Base, key: HeaderKey): string {
  return key === 'id' ? base.id : key === 'timestamp' ? String(base.timestampSeconds) : base.signature;
}

/** Replaces the value of one of our headers, leaving the others untouched. */
function withValue(base: Base, key: HeaderKey, value: WebhookHeaderValue): Entry[] {
  return plainEntries(base).map(([name, current]) => (name === CANONICAL[key] ? [name, value] : [name, current]));
}

function headerPairs(headers: Headers): [string, string][] {
  const pairs: [string, string][] = [];
  headers.forEach((value, name) => pairs.push([name, value]));
  return pairs;
}

function short(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : value instanceof Uint8Array ? `<${value.length} bytes>` : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 120 ? `${text.slice(0, 100)}…(${text.length} chars)` : text;
}

function makeCase(base: Base, entries: readonly Entry[], form: Form, expected: Expected, label: string, body: string | Uint8Array = base.bodyText): Case {
  const headers = assemble(entries, form);
  const summary = () =>
    `${label} [${headers instanceof Headers ? 'Headers' : 'object'}] headers=${short(headers instanceof Headers ? headerPairs(headers) : headers)} body=${short(
      body,
    )} expected=${expected.accept ? 'accept' : expected.codes.join('|')}`;
  const testCase = {
    message: { body, headers },
    options: base.options,
    expected,
    event: base.event,
    get label() {
      return summary();
    },
    [fc.toStringMethod]: summary,
  };
  return testCase;
}

// ---------------------------------------------------------------- checking an outcome

type Outcome = { ok: true; event: unknown } | { ok: false; error: unknown };

function runSync(testCase: Case): Outcome {
  try {
    return { ok: true, event: verifyWebhook(testCase.message, testCase.options) };
  } catch (error) {
    return { ok: false, error };
  }
}

async function runAsync(testCase: Case): Promise<Outcome> {
  try {
    return { ok: true, event: await verifyWebhookAsync(testCase.message, testCase.options) };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.constructor.name}(${(error as { code?: unknown }).code ?? ''}): ${error.message}`;
  return String(error);
}

/** Throws (failing the property) unless the outcome is what the case expects. */
function check(testCase: Case, outcome: Outcome): void {
  if (!outcome.ok) {
    const { error } = outcome;
    if (!(error instanceof SignatureVerificationError)) {
      throw new Error(`threw something other than a SignatureVerificationError: ${describeError(error)} — ${testCase.label}`);
    }
    if (!DOCUMENTED_CODES.includes(error.code as Code)) throw new Error(`undocumented code ${error.code} — ${testCase.label}`);
    if (testCase.expected.accept) throw new Error(`refused with ${error.code}, expected acceptance — ${testCase.label}`);
    if (!testCase.expected.codes.includes(error.code as Code)) {
      throw new Error(`refused with ${error.code}, expected ${testCase.expected.codes.join(' or ')} — ${testCase.label}`);
    }
    return;
  }
  if (!testCase.expected.accept) throw new Error(`accepted a request it must refuse — ${testCase.label}`);
  // A cheap comparison first (100,000 runs in CI); the deep one for a readable failure. Both
  // `data`s are JSON.parse results of the same bytes, so their serialisations match.
  const event = outcome.event as Case['event'];
  const expected = testCase.event;
  if (
    event.id !== expected.id ||
    event.type !== expected.type ||
    event.timestamp !== expected.timestamp ||
    JSON.stringify(event.data) !== JSON.stringify(expected.data) ||
    Object.keys(event).length !== 4
  ) {
    expect(outcome.event, testCase.label).toEqual(expected);
  }
}

function assertSync(arbitrary: fc.Arbitrary<Case>): void {
  fc.assert(
    fc.property(arbitrary, (testCase) => check(testCase, runSync(testCase))),
    { numRuns: RUNS_SYNC },
  );
}

async function assertAgree(arbitrary: fc.Arbitrary<Case>): Promise<void> {
  await fc.assert(
    fc.asyncProperty(arbitrary, async (testCase) => {
      const sync = runSync(testCase);
      const async = await runAsync(testCase);
      check(testCase, async);
      if (sync.ok !== async.ok) throw new Error(`sync ${sync.ok ? 'accepted' : 'refused'} but async ${async.ok ? 'accepted' : 'refused'} — ${testCase.label}`);
      if (sync.ok && async.ok) expect(async.event).toEqual(sync.event);
      if (!sync.ok && !async.ok) {
        const [a, b] = [sync.error as { code?: unknown }, async.error as { code?: unknown }];
        if (a.code !== b.code) throw new Error(`sync refused with ${String(a.code)}, async with ${String(b.code)} — ${testCase.label}`);
      }
    }),
    { numRuns: RUNS_ASYNC },
  );
}

// ---------------------------------------------------------------- 1. cosmetic changes: must verify

/** Entries of a `webhook-signature` header that a verifier must skip, next to the valid ones. */
function extraSignatureEntry(base: Base, kind: number): string {
  const valid = base.signature.split(' ')[0]!;
  switch (kind) {
    case 0:
      return 'v2,' + valid.slice(3); // another version
    case 1:
      return signWebhook({ id: base.id, timestamp: base.timestampSeconds, body: base.bodyText, secrets: FOREIGN_SECRET }); // a v1 by an unknown secret
    case 2:
      return valid; // the same signature twice
    case 3:
      return 'v1,' + 'A'.repeat(12); // a short v1
    case 4:
      return 'v1a,' + valid.slice(3); // a version that merely starts like v1
    case 5:
      return valid.slice(0, -1); // v1 without padding
    case 6:
      return 'V1,' + valid.slice(3); // a version in the wrong case
    default:
      return 'v1,' + '!'.repeat(44); // v1 of the right length, not base64
  }
}

const cosmeticArb: fc.Arbitrary<Case> = fc
  .record({
    base: baseArb,
    masks: fc.tuple(fc.nat(), fc.nat(), fc.nat()),
    secondMasks: fc.tuple(fc.nat(), fc.nat(), fc.nat()),
    duplication: fc.tuple(...HEADER_KEYS.map(() => fc.constantFrom('single', 'array1', 'array2', 'joined', 'twoNames'))),
    extras: fc.array(fc.record({ kind: fc.nat({ max: 7 }), at: fc.nat() }), { maxLength: 4 }),
    separator: fc.constantFrom(' ', '  ', '   '),
    padding: fc.constantFrom('', ' ', '  '),
    decoys: fc.subarray([...DECOYS]),
    decoysFirst: fc.boolean(),
    form: fc.constantFrom<Form>('object', 'headers'),
    bodyForm: fc.constantFrom('string', 'uint8array', 'buffer'),
  })
  .map(({ base, masks, secondMasks, duplication, extras, separator, padding, decoys, decoysFirst, form, bodyForm }) => {
    const signatureEntries = base.signature.split(' ');
    for (const { kind, at } of extras) signatureEntries.splice(at % (signatureEntries.length + 1), 0, extraSignatureEntry(base, kind));
    const values: Record<HeaderKey, string> = {
      id: base.id,
      timestamp: String(base.timestampSeconds),
      signature: padding + signatureEntries.join(separator) + padding,
    };
    const entries: Entry[] = [];
    HEADER_KEYS.forEach((key, index) => {
      const name = cased(CANONICAL[key], masks[index]!);
      const value = values[key];
      switch (duplication[index]) {
        case 'single':
          entries.push([name, value]);
          break;
        case 'array1':
          entries.push([name, [value]]);
          break;
        case 'array2':
          entries.push([name, [value, value]]);
          break;
        case 'joined': // how Node's req.headers and Headers.get present a header sent twice
          entries.push([name, `${value}, ${value}`]);
          break;
        default:
          entries.push([name, value], [otherCasing(CANONICAL[key], name, secondMasks[index]!), value]);
      }
    });
    const all = decoysFirst ? [...decoys, ...entries] : [...entries, ...decoys];
    const body = bodyForm === 'string' ? base.bodyText : bodyForm === 'buffer' ? Buffer.from(base.bodyBytes) : base.bodyBytes.slice();
    const label = `cosmetic: names ${entries.map(([name]) => name).join(',')}, duplication ${duplication.join('/')}, ${extras.length} extra signature entries, body as ${bodyForm}`;
    return makeCase(base, all, form, ACCEPT, label, body);
  });

// ---------------------------------------------------------------- 2. body mutations

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `value` with its object keys reordered (recursively) by `order`. */
function reorder(value: unknown, order: 'reverse' | 'sort' | 'rotate'): unknown {
  if (Array.isArray(value)) return value.map((item) => reorder(item, order));
  if (typeof value !== 'object' || value === null) return value;
  let keys = Object.keys(value);
  if (order === 'reverse') keys = keys.reverse();
  else if (order === 'sort') keys = keys.sort();
  else keys = [...keys.slice(1), ...keys.slice(0, 1)];
  const out: Record<string, unknown> = {};
  for (const key of keys) Object.defineProperty(out, key, { value: reorder((value as Record<string, unknown>)[key], order), enumerable: true, writable: true, configurable: true });
  return out;
}

type BodyOp =
  | { op: 'flip'; at: number; xor: number }
  | { op: 'truncate'; keep: number }
  | { op: 'append'; bytes: Uint8Array }
  | { op: 'prepend'; bytes: Uint8Array }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'reserialize'; indent: number | string | undefined; order: 'reverse' | 'sort' | 'rotate' | 'same' }
  | { op: 'normalize'; form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD' }
  | { op: 'replace'; text: string }
  | { op: 'huge'; size: number };

const someBytes = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 16 }),
  fc.constantFrom(' ', '\n', '\r\n', '\t', '\0', '}', ',', '\uFEFF', '\u00a0').map((text) => encoder.encode(text)),
);

const bodyOpArb: fc.Arbitrary<BodyOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), keep: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('append' as const), bytes: someBytes }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('prepend' as const), bytes: someBytes }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: someBytes }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('reserialize' as const),
      indent: fc.constantFrom(undefined, 0, 1, 2, 4, '\t', '  '),
      order: fc.constantFrom('reverse' as const, 'sort' as const, 'rotate' as const, 'same' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('normalize' as const), form: fc.constantFrom('NFC' as const, 'NFD' as const, 'NFKC' as const, 'NFKD' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('replace' as const), text: fc.string({ unit: 'binary', maxLength: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('huge' as const), size: fc.integer({ min: 64 * 1024, max: 256 * 1024 }) }) },
);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The mutated body, as bytes or as a string. */
function mutateBody(base: Base, op: BodyOp): string | Uint8Array {
  const bytes = base.bodyBytes;
  const n = bytes.length;
  switch (op.op) {
    case 'flip': {
      const out = bytes.slice();
      const at = op.at % n;
      out[at] = out[at]! ^ op.xor;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, op.keep % n);
    case 'append':
      return concat(bytes, op.bytes);
    case 'prepend':
      return concat(op.bytes, bytes);
    case 'insert': {
      const at = op.at % (n + 1);
      return concat(bytes.subarray(0, at), op.bytes, bytes.subarray(at));
    }
    case 'delete': {
      const at = op.at % n;
      return concat(bytes.subarray(0, at), bytes.subarray(Math.min(n, at + op.count)));
    }
    case 'reserialize': {
      const parsed: unknown = JSON.parse(base.bodyText);
      return JSON.stringify(op.order === 'same' ? parsed : reorder(parsed, op.order), null, op.indent);
    }
    case 'normalize':
      return base.bodyText.normalize(op.form);
    case 'replace':
      return op.text;
    case 'huge':
      return base.bodyText + ' '.repeat(op.size);
  }
}

const bodyMutationArb: fc.Arbitrary<Case> = fc
  .record({
    base: baseArb,
    op: bodyOpArb,
    asString: fc.boolean(),
    masks: fc.tuple(fc.nat(), fc.nat(), fc.nat()),
    form: fc.constantFrom<Form>('object', 'headers'),
  })
  .map(({ base, op, asString, masks, form }) => {
    const mutated = mutateBody(base, op);
    // Bytes may also arrive as a string (a framework that decoded them, lossily or not).
    const body = asString && mutated instanceof Uint8Array ? lenientDecoder.decode(mutated) : !asString && typeof mutated === 'string' ? encoder.encode(mutated) : mutated;
    const content = typeof body === 'string' ? encoder.encode(body) : body;
    // Signed content is id.timestamp.body as bytes: refused exactly when those bytes changed.
    const expected = sameBytes(content, base.bodyBytes) ? ACCEPT : refuse('WEBHOOK_NO_MATCHING_SIGNATURE');
    return makeCase(base, plainEntries(base, masks), form, expected, `body ${op.op} ${short({ ...op, bytes: undefined, text: undefined })}`, body);
  });

// ---------------------------------------------------------------- 3. header value mutations

const anyChar = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });
const junk = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  // Printable ASCII, no space at either end: values that Headers passes through unchanged.
  fc
    .string({ unit: printableChar, minLength: 1, maxLength: 40 })
    .map((text) => text.trim())
    .filter((text) => text.length > 0),
);

/** `text` with the character at `at` replaced by `by` (which may be longer), if that changes it. */
function replaceAt(text: string, at: number, by: string): string {
  const index = at % text.length;
  return text.slice(0, index) + by + text.slice(index + 1);
}

/** True when a header value is, per the documented rule, the original sent again (Node joins repeats with ", "). */
function sameAfterJoin(value: string, original: string): boolean {
  return value.split(', ').every((part) => part === original);
}

type IdOp =
  | { op: 'flip'; at: number; by: string }
  | { op: 'truncate'; keep: number }
  | { op: 'append'; text: string }
  | { op: 'prepend'; text: string }
  | { op: 'case' }
  | { op: 'replace'; text: string }
  | { op: 'pad'; left: string; right: string }
  | { op: 'huge'; size: number };

const idOpArb: fc.Arbitrary<IdOp> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), by: anyChar }),
  fc.record({ op: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ op: fc.constant('append' as const), text: junk }),
  fc.record({ op: fc.constant('prepend' as const), text: junk }),
  fc.record({ op: fc.constant('case' as const) }),
  fc.record({ op: fc.constant('replace' as const), text: junk }),
  fc.record({ op: fc.constant('pad' as const), left: fc.constantFrom('', ' ', '\t'), right: fc.constantFrom(' ', '\t', '\n', '\0') }),
  fc.record({ op: fc.constant('huge' as const), size: fc.integer({ min: 10_000, max: 200_000 }) }),
);

function mutateId(id: string, op: IdOp): string {
  switch (op.op) {
    case 'flip':
      return replaceAt(id, op.at, op.by);
    case 'truncate':
      return id.slice(0, op.keep % id.length);
    case 'append':
      return id + op.text;
    case 'prepend':
      return op.text + id;
    case 'case': {
      const swapped = [...id].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
      return swapped;
    }
    case 'replace':
      return op.text;
    case 'pad':
      return op.left + id + op.right;
    case 'huge':
      return id + 'x'.repeat(op.size);
  }
}

function idExpectation(mutated: string, original: string): Expected {
  if (sameAfterJoin(mutated, original)) return ACCEPT;
  if (mutated.split(', ').every((part) => part === '')) return refuse('WEBHOOK_MISSING_HEADER');
  // A value that looks like a header sent twice with different copies is refused as such.
  return mutated.includes(', ') ? refuse('WEBHOOK_NO_MATCHING_SIGNATURE', 'WEBHOOK_MISSING_HEADER') : refuse('WEBHOOK_NO_MATCHING_SIGNATURE');
}

type TimestampOp =
  | { op: 'shift'; by: number }
  | { op: 'nonNumeric'; text: string }
  | { op: 'huge'; digits: number }
  | { op: 'form'; template: string };

const timestampOpArb: fc.Arbitrary<TimestampOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('shift' as const), by: fc.oneof(fc.integer({ min: -600, max: 600 }), fc.integer({ min: -NOW_SECONDS - 10, max: 10 ** 11 })).filter((by) => by !== 0) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('nonNumeric' as const), text: fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }).filter((text) => /[^0-9 ,]/.test(text)) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('huge' as const), digits: fc.oneof(fc.integer({ min: 11, max: 40 }), fc.integer({ min: 1_000, max: 200_000 })) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('form' as const),
      // Other spellings of the same number: none is "unix seconds, digits only".
      template: fc.constantFrom('+T', '-T', 'T.0', 'T.5', ' T', 'T ', '\tT', 'T\n', 'T\0', '0xH', 'Te0', 'T,', 'T;', 'T ms', '١٧٨٠٠٠٠٠٠٠', 'NaN', 'Infinity', '-0', 'T-1', 'T+1', '1.78e9', 'T\u00a0'),
    }),
  },
);

function mutateTimestamp(timestampSeconds: number, op: TimestampOp): string {
  switch (op.op) {
    case 'shift':
      return String(timestampSeconds + op.by);
    case 'nonNumeric':
      return op.text;
    case 'huge':
      return '9'.repeat(op.digits);
    case 'form':
      return op.template.replaceAll('T', String(timestampSeconds)).replace('H', timestampSeconds.toString(16));
  }
}

function timestampExpectation(op: TimestampOp, mutated: string, original: number, nowMs: number): Expected {
  if (op.op === 'shift') {
    const value = original + op.by;
    if (value < 0) return refuse('WEBHOOK_INVALID_TIMESTAMP');
    if (value * 1000 - nowMs > TOLERANCE * 1000) return refuse('WEBHOOK_TIMESTAMP_TOO_NEW');
    if (nowMs - value * 1000 > TOLERANCE * 1000) return refuse('WEBHOOK_TIMESTAMP_TOO_OLD');
    return refuse('WEBHOOK_NO_MATCHING_SIGNATURE');
  }
  if (op.op === 'huge') return refuse('WEBHOOK_INVALID_TIMESTAMP', 'WEBHOOK_TIMESTAMP_TOO_NEW');
  if (mutated.trim() === '' && !mutated.includes(', ')) return refuse('WEBHOOK_INVALID_TIMESTAMP', 'WEBHOOK_MISSING_HEADER');
  return refuse('WEBHOOK_INVALID_TIMESTAMP');
}

type SignatureOp =
  | { op: 'flip'; at: number; by: string }
  | { op: 'truncate'; keep: number }
  | { op: 'append'; text: string }
  | { op: 'version'; prefix: string }
  | { op: 'otherSecret' }
  | { op: 'otherContent'; which: 'id' | 'timestamp' | 'body' }
  | { op: 'urlSafe' }
  | { op: 'replace'; text: string }
  | { op: 'huge'; kind: 'long' | 'many'; size: number };

const signatureOpArb: fc.Arbitrary<SignatureOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), by: anyChar }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), keep: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('append' as const), text: junk.filter((text) => !text.startsWith(' ')) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('version' as const),
      prefix: fc.constantFrom('', 'v2,', 'v0,', 'V1,', 'v1;', 'v1.', 'v11,', 'v,', '1,', 'v1, ', 'v1,,', 'v1=', 'v1,\t', 'ｖ1,'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('otherSecret' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('otherContent' as const), which: fc.constantFrom('id' as const, 'timestamp' as const, 'body' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('urlSafe' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('replace' as const), text: junk }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('huge' as const), kind: fc.constantFrom('long' as const, 'many' as const), size: fc.integer({ min: 1_000, max: 5_000 }) }) },
);

/**
 * The signature header mutated: per-entry operations change every entry the same way
 * (an entry the operation happens to leave as it was stays valid); the others replace it.
 */
function mutateSignature(base: Base, op: SignatureOp): { header: string; entries: string[] | null } {
  const original = base.signature.split(' ');
  const each = (mutate: (entry: string) => string) => {
    const entries = original.map(mutate);
    return { header: entries.join(' '), entries };
  };
  const whole = (header: string) => ({ header, entries: null });
  switch (op.op) {
    case 'flip':
      return each((entry) => replaceAt(entry, op.at, op.by));
    case 'truncate':
      return each((entry) => entry.slice(0, op.keep % entry.length));
    case 'append':
      return each((entry) => entry + op.text);
    case 'version':
      return each((entry) => op.prefix + entry.slice(3));
    case 'urlSafe':
      return each((entry) => entry.replaceAll('+', '-').replaceAll('/', '_'));
    case 'otherSecret':
      return whole(signWebhook({ id: base.id, timestamp: base.timestampSeconds, body: base.bodyText, secrets: FOREIGN_SECRET }));
    case 'otherContent':
      return whole(
        signWebhook({
          id: op.which === 'id' ? base.id + 'x' : base.id,
          timestamp: op.which === 'timestamp' ? base.timestampSeconds + 1 : base.timestampSeconds,
          body: op.which === 'body' ? base.bodyText + ' ' : base.bodyText,
          secrets: base.signerSecrets,
        }),
      );
    case 'replace':
      return whole(op.text);
    case 'huge':
      return whole(
        op.kind === 'long'
          ? 'v1,' + 'A'.repeat(op.size * 40)
          : Array.from({ length: op.size }, (_, i) => 'v1,' + (i.toString(36).padStart(43, 'A') + '=')).join(' '),
      );
  }
}

function signatureExpectation(base: Base, mutated: { header: string; entries: string[] | null }): Expected {
  if (mutated.header === base.signature) return ACCEPT;
  // Entry i was made with signerSecrets[i]: it still verifies if left intact and the verifier knows that secret.
  const original = base.signature.split(' ');
  if (mutated.entries?.some((entry, i) => entry === original[i] && base.verifierSecrets.includes(base.signerSecrets[i]!))) return ACCEPT;
  const codes: Code[] = ['WEBHOOK_INVALID_SIGNATURE', 'WEBHOOK_NO_MATCHING_SIGNATURE'];
  if (mutated.header.trim() === '' || mutated.header.split(', ').every((part) => part === '')) codes.push('WEBHOOK_MISSING_HEADER');
  return refuse(...codes);
}

const headerValueArb: fc.Arbitrary<Case> = fc
  .record({
    base: baseArb,
    mutation: fc.oneof(
      fc.record({ key: fc.constant('id' as const), op: idOpArb }),
      fc.record({ key: fc.constant('timestamp' as const), op: timestampOpArb }),
      fc.record({ key: fc.constant('signature' as const), op: signatureOpArb }),
    ),
    form: fc.constantFrom<Form>('object', 'headers'),
  })
  .map(({ base, mutation, form }) => {
    let value: string;
    let expected: Expected;
    if (mutation.key === 'id') {
      value = mutateId(base.id, mutation.op);
      expected = idExpectation(value, base.id);
    } else if (mutation.key === 'timestamp') {
      value = mutateTimestamp(base.timestampSeconds, mutation.op);
      expected = timestampExpectation(mutation.op, value, base.timestampSeconds, base.nowMs);
    } else {
      const mutated = mutateSignature(base, mutation.op);
      value = mutated.header;
      expected = signatureExpectation(base, mutated);
    }
    return makeCase(base, withValue(base, mutation.key, value), form, expected, `${mutation.key} ${mutation.op.op}: ${short(value)}`);
  });

// ---------------------------------------------------------------- 4. missing, empty, renamed, duplicated, conflicting headers

type StructuralOp =
  | { op: 'remove' }
  | { op: 'empty'; value: '' | 'undefined' | '[]' | "['']" }
  | { op: 'rename'; name: string }
  | { op: 'duplicateArray'; other: string; otherFirst: boolean }
  | { op: 'duplicateJoined'; other: string }
  | { op: 'conflictingNames'; other: string; mask: number; otherFirst: boolean };

const otherValue = junk;

const structuralOpArb: fc.Arbitrary<StructuralOp> = fc.oneof(
  fc.record({ op: fc.constant('remove' as const) }),
  fc.record({ op: fc.constant('empty' as const), value: fc.constantFrom('' as const, 'undefined' as const, '[]' as const, "['']" as const) }),
  fc.record({ op: fc.constant('rename' as const), name: fc.constantFrom('webhook-id ', 'webhook_id', 'webhookid', 'webhook-ids', 'x-webhook-id', 'webhook-timestamps', 'webhook_timestamp', 'webhook-signatures', 'webhook-signatur', 'svix-signature', ' webhook-signature') }),
  fc.record({ op: fc.constant('duplicateArray' as const), other: otherValue, otherFirst: fc.boolean() }),
  fc.record({ op: fc.constant('duplicateJoined' as const), other: otherValue }),
  fc.record({ op: fc.constant('conflictingNames' as const), other: otherValue, mask: fc.nat(), otherFirst: fc.boolean() }),
);

/** The code a header sent twice with different values is refused with. */
const REPEATED_CODE: Record<HeaderKey, Code> = {
  id: 'WEBHOOK_MISSING_HEADER',
  timestamp: 'WEBHOOK_INVALID_TIMESTAMP',
  signature: 'WEBHOOK_INVALID_SIGNATURE',
};

/** Applies one structural change to one header; `null` when the generated change happens to be no change. */
function applyStructural(base: Base, entries: Entry[], key: HeaderKey, op: StructuralOp): { entries: Entry[]; codes: Code[]; objectOnly: boolean } | null {
  const name = CANONICAL[key];
  const value = valueOf(base, key);
  const index = entries.findIndex(([entryName]) => entryName === name);
  const rest = entries.filter((_, i) => i !== index);
  // A copy that is empty, or that is the original again, is no conflict.
  const differs = (other: string) => other.trim() !== '' && !sameAfterJoin(other, value) && other !== value;
  switch (op.op) {
    case 'remove':
      return { entries: rest, codes: ['WEBHOOK_MISSING_HEADER'], objectOnly: false };
    case 'empty': {
      const emptyValue: WebhookHeaderValue = op.value === '' ? '' : op.value === 'undefined' ? undefined : op.value === '[]' ? [] : [''];
      return { entries: [...rest, [name, emptyValue]], codes: ['WEBHOOK_MISSING_HEADER'], objectOnly: true };
    }
    case 'rename':
      // A name that is not exactly ours in some casing (a space, an underscore, a letter more or less) is another header.
      return { entries: [...rest, [op.name, value]], codes: ['WEBHOOK_MISSING_HEADER'], objectOnly: true };
    case 'duplicateArray':
      if (!differs(op.other)) return null;
      // Through Headers, copies are joined with ", ": a junk copy before a signature then reads as one
      // header with an extra entry (indistinguishable from a single header), so that order is object-only.
      return { entries: [...rest, [name, op.otherFirst ? [op.other, value] : [value, op.other]]], codes: [REPEATED_CODE[key]], objectOnly: op.otherFirst };
    case 'duplicateJoined':
      // The original first, as a receiver's stack joins a header it got twice.
      if (!differs(op.other)) return null;
      return { entries: [...rest, [name, `${value}, ${op.other}`]], codes: [REPEATED_CODE[key]], objectOnly: false };
    case 'conflictingNames': {
      if (!differs(op.other)) return null;
      const second = otherCasing(name, name, op.mask);
      const pair: Entry[] = op.otherFirst ? [[second, op.other], [name, value]] : [[name, value], [second, op.other]];
      // Through Headers the two spellings are one header, joined in order: the original must come first there.
      return { entries: [...rest, ...pair], codes: [REPEATED_CODE[key]], objectOnly: op.otherFirst };
    }
  }
}

const structuralArb: fc.Arbitrary<Case> = fc
  .record({
    base: baseArb,
    ops: fc.uniqueArray(fc.record({ key: fc.constantFrom(...HEADER_KEYS), op: structuralOpArb }), {
      minLength: 1,
      maxLength: 3,
      selector: (item) => item.key,
    }),
    form: fc.constantFrom<Form>('object', 'headers'),
  })
  .map(({ base, ops, form }) => {
    let entries = plainEntries(base);
    const codes = new Set<Code>();
    let objectOnly = false;
    const done: string[] = [];
    for (const { key, op } of ops) {
      const applied = applyStructural(base, entries, key, op);
      if (applied === null) continue;
      entries = applied.entries;
      for (const code of applied.codes) codes.add(code);
      objectOnly ||= applied.objectOnly;
      done.push(`${key} ${op.op}`);
    }
    // With several headers broken, the first check to fail names the error.
    const expected = codes.size === 0 ? ACCEPT : refuse(...codes);
    return makeCase(base, entries, objectOnly ? 'object' : form, expected, `structural: ${done.join(', ') || 'none'}`);
  });

// ---------------------------------------------------------------- the tests

const suites: { name: string; arbitrary: fc.Arbitrary<Case> }[] = [
  { name: 'an untouched request, with header names in any case, repeated identically, among other headers and unknown signature entries', arbitrary: cosmeticArb },
  { name: 'a body changed in any byte, truncated, extended or re-serialised', arbitrary: bodyMutationArb },
  { name: 'a changed id, timestamp or signature value, including huge ones', arbitrary: headerValueArb },
  { name: 'missing, empty, renamed, duplicated or conflicting headers', arbitrary: structuralArb },
];

describe('verifyWebhook under fuzzing', () => {
  it('verifies every untouched request, whatever the header-name casing, duplication or extra signature entries', () => {
    assertSync(cosmeticArb);
  });

  it('refuses every body whose bytes changed with WEBHOOK_NO_MATCHING_SIGNATURE, and accepts one whose bytes did not', () => {
    assertSync(bodyMutationArb);
  });

  it('refuses every changed id, timestamp or signature with the code of the failed check, and throws nothing else', () => {
    assertSync(headerValueArb);
  });

  it('refuses missing, empty, renamed, duplicated and conflicting headers with a documented code', () => {
    assertSync(structuralArb);
  });
});

describe('verifyWebhookAsync under fuzzing', () => {
  for (const { name, arbitrary } of suites) {
    it(`agrees with verifyWebhook on every input: ${name}`, async () => {
      await assertAgree(arbitrary);
    });
  }
});
