/**
 * The runtime-neutral core of Standard Webhooks 1.0 verification, shared by
 * `verifyWebhook` (sync, node:crypto) and `verifyWebhookAsync` (Web Crypto):
 * header extraction, timestamp tolerance, parsing of `webhook-signature` (`v1` HMAC and
 * `v1a` Ed25519 entries), constant-time comparison, the verified message, and the envelope
 * parse (with the ordering key and the unsigned `webhook-sequence` header that goes with it).
 *
 * No static `node:` import here nor in anything the `./receiver` entry reaches:
 * that entry must bundle for edge runtimes. The sync path loads node:crypto
 * lazily through `process.getBuiltinModule`.
 */
import { ENVIRONMENT_NAME_RULE, isEnvironmentName } from './environment-name.js';
import { ConfigError, SignatureVerificationError, ValidationError, closestName, describeValue } from '../errors.js';
import { hmacSha256Base64, type HmacCrypto } from './hmac-sha256.js';
import { decodeBase64, keyBytes } from './secret.js';
import { SEQUENCE_HEADER } from './sequence-header.js';
import { PUBLIC_KEY_PREFIX, SECRET_KEY_PREFIX, publicKeyBytes, secretKeyGivenToVerifier } from './signing-key.js';

/** A header value as Node (`IncomingMessage.headers`) or a plain object gives it. */
export type WebhookHeaderValue = string | readonly string[] | undefined;

/** Request headers: a Fetch `Headers` instance or a plain object; names in any case. */
export type WebhookHeaders = Headers | { readonly [name: string]: WebhookHeaderValue };

/** What a receiver got: the raw body, before any JSON parsing, and the headers. */
export interface WebhookMessage {
  /** The raw body exactly as received; a `Uint8Array` (or Node `Buffer`) is verified byte for byte. */
  body: string | Uint8Array;
  /** The request headers. */
  headers: WebhookHeaders;
}

/**
 * A verified webhook. Generic for callers who describe their events, e.g.
 * `verifyWebhook<WebhookEvent<'payment.succeeded', { amountMinor: number }>>(…)`.
 */
export interface WebhookEvent<TType extends string = string, TData = unknown> {
  /** The `webhook-id` header: the event id, the same on every retry (deduplicate on it). */
  id: string;
  /** The event type from the body, e.g. `payment.succeeded`. */
  type: TType;
  /**
   * The body's `timestamp` (ISO 8601, as sent). A body without one, from a sender
   * other than this library, gets the `webhook-timestamp` header as ISO 8601; one that is
   * not a string is refused (`WEBHOOK_INVALID_PAYLOAD`).
   */
  timestamp: string;
  /** The body's `data`, as sent. */
  data: TData;
  /**
   * The body's `environment` (`"live"`, `"test"`, …), present when the sender's instance
   * has an `environment` option; covered by the signature. Absent: the sender named none
   * (unknown, not "live"). Never read from the unsigned `bookkeeper-environment` header.
   */
  environment?: string;
  /**
   * The body's `metadata`: the strings the sender attached to the event
   * (`publish(…, { metadata })`), covered by the signature. Absent when the event has none.
   */
  metadata?: Record<string, string>;
  /**
   * The body's `orderingKey`: the key the sender published the event with
   * (`publish(…, { orderingKey })`), covered by the signature. Absent when the event has none.
   */
  orderingKey?: string;
  /**
   * The `webhook-sequence` header: this delivery's number among its subscription's deliveries
   * of `orderingKey` (1, 2, 3, … in publish order; a retry resends the same number). Present
   * exactly when `orderingKey` is: `null` when the request carries no such header (a request
   * forwarded or replayed without it). NOT covered by the signature: see the router's `ordering`.
   */
  sequence?: number | null;
  /**
   * The body's `version`: for an event type the sender defines with versions, the version
   * `data` is in (the one the subscription is pinned to), covered by the signature. Absent
   * for a type without versions.
   */
  version?: number;
}

/**
 * A message whose signature verified, whatever its body: what `verifyWebhookSignature`
 * returns, for webhooks that are not Bookkeeper event envelopes.
 */
export interface VerifiedWebhookMessage {
  /** The `webhook-id` header. */
  id: string;
  /** The `webhook-timestamp` header, in unix seconds. */
  timestamp: number;
  /** The raw body as a string (bytes are decoded as UTF-8, a byte-order mark kept), not parsed. */
  body: string;
}

/** Options of `verifyWebhook`, `verifyWebhookSignature` and their async twins. */
export interface VerifyWebhookOptions {
  /**
   * One key, or several during a rotation: a signature by any of them is accepted. A
   * `whsec_…` secret checks `v1` (HMAC-SHA256) signatures; a `whpk_…` public key checks
   * `v1a` (Ed25519) ones — the scheme follows the key's prefix, and the two may be mixed
   * (a sender moving from `v1` to `v1a`). A `whsk_…` secret key is refused: a receiver
   * needs only the public key.
   */
  secrets: string | readonly string[];
  /**
   * How far `webhook-timestamp` may be from `now`, either way, in seconds.
   * @defaultValue 300
   */
  toleranceSeconds?: number;
  /**
   * The current time, for tests and replays.
   * @defaultValue the wall clock
   */
  now?: Date;
  /**
   * The only environment accepted (e.g. `"live"` at a production endpoint): an event whose
   * signed envelope names another one, or none, is refused with
   * `WEBHOOK_ENVIRONMENT_MISMATCH` — checked after the signature, on the envelope, never on
   * the unsigned `bookkeeper-environment` header. A lower-case token of 1 to 32 characters.
   * Only for the verifiers that read the envelope: `verifyWebhookSignature` refuses it.
   * @defaultValue none: events of any environment, and without one, are accepted
   */
  environment?: string;
}

/** Options of `verifyWebhookSignature` and `verifyWebhookSignatureAsync`, which do not read the envelope. */
export type VerifyWebhookSignatureOptions = Omit<VerifyWebhookOptions, 'environment'>;

/** {@link VerifyWebhookOptions} validated once, with defaults applied. */
export interface ResolvedVerifyOptions {
  /** The `v1` secrets (`whsec_…` or bare base64), each known to decode. */
  readonly secrets: readonly string[];
  /** The `v1a` public keys (`whpk_…`), each known to decode. */
  readonly publicKeys: readonly string[];
  /** Tolerance in seconds, finite and ≥ 0. */
  readonly toleranceSeconds: number;
  /** A fixed current time, or `undefined` for the wall clock. */
  readonly now: Date | undefined;
  /** The only environment accepted, or `undefined` for any. */
  readonly environment: string | undefined;
}

/** A message whose headers and timestamp passed, with its presented signatures. */
export interface SignedMessage {
  /** The `webhook-id` header. */
  readonly id: string;
  /** The `webhook-timestamp` header, unix seconds. */
  readonly timestampSeconds: number;
  /** The raw body. */
  readonly body: string | Uint8Array;
  /** The base64 part of every well-formed `v1,` entry of `webhook-signature`. */
  readonly signatures: readonly string[];
  /** The bytes of the first well-formed `v1a,` entries of `webhook-signature` (see {@link MAX_V1A_SIGNATURES}). */
  readonly ed25519Signatures: readonly Uint8Array<ArrayBuffer>[];
  /** The `webhook-sequence` header as received, copies joined by ", " (unsigned, unchecked: read with the envelope). */
  readonly sequence: string | undefined;
}

/** The default `toleranceSeconds` (Standard Webhooks: five minutes). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const verifyOptionKeys: ReadonlySet<string> = new Set(['secrets', 'toleranceSeconds', 'now']);

/**
 * The option keys of the verifiers that parse the envelope (`verifyWebhook` and its async twin).
 *
 * @internal
 */
export const verifyEventOptionKeys: ReadonlySet<string> = new Set([...verifyOptionKeys, 'environment']);

/**
 * Validates verification options once and applies defaults. Every secret and public key
 * is decoded (and cached), so a bad one fails here, before any request is read.
 *
 * @param options - the options.
 * @param allowedKeys - the keys the caller's options may have; others fail loudly.
 * @throws ConfigError `SECRET_INVALID` for no secret, a malformed secret or public key, or
 *   a `whsk_…` secret key (a receiver holds the `whpk_…` public key only);
 *   `CONFIG_INVALID` for a bad `toleranceSeconds`, `now` or `environment`, or an unknown key.
 */
export function resolveVerifyOptions(
  options: VerifyWebhookOptions,
  allowedKeys: ReadonlySet<string> = verifyOptionKeys,
): ResolvedVerifyOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('CONFIG_INVALID', `Expected options { secrets, toleranceSeconds?, now? }, got ${describeValue(options)}`);
  }
  for (const key in options) {
    if (!allowedKeys.has(key)) {
      if (key === 'environment') {
        throw new ConfigError(
          'CONFIG_INVALID',
          'Unknown option `environment` here: the environment is checked on the signed envelope, which verifyWebhookSignature does not read; use verifyWebhook (or verifyWebhookAsync)',
          { field: key },
        );
      }
      const valid = [...allowedKeys];
      const guess = closestName(key, valid);
      throw new ConfigError(
        'CONFIG_INVALID',
        `Unknown option \`${key}\`${guess === undefined ? '' : ` (did you mean \`${guess}\`?)`}; expected one of: ${valid.join(', ')}`,
        { field: key },
      );
    }
  }
  const { secrets, toleranceSeconds = DEFAULT_TOLERANCE_SECONDS, now, environment } = options;
  const list: readonly string[] = typeof secrets === 'string' ? [secrets] : secrets;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError(
      'SECRET_INVALID',
      `Expected \`secrets\` to be a \`whsec_…\` secret or \`whpk_…\` public key, or a non-empty array of them, got ${describeValue(secrets)}`,
      { field: 'secrets' },
    );
  }
  const hmacSecrets: string[] = [];
  const publicKeys: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const key = list[i]!;
    const field = list.length === 1 ? 'secrets' : `secrets[${i}]`;
    if (typeof key === 'string' && key.startsWith(PUBLIC_KEY_PREFIX)) {
      publicKeyBytes(key, field);
      publicKeys.push(key);
    } else if (typeof key === 'string' && key.startsWith(SECRET_KEY_PREFIX)) {
      throw secretKeyGivenToVerifier(field);
    } else {
      keyBytes(key, field);
      hmacSecrets.push(key);
    }
  }
  if (typeof toleranceSeconds !== 'number' || !Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`toleranceSeconds\` to be a finite number ≥ 0, got ${describeValue(toleranceSeconds)}`, {
      field: 'toleranceSeconds',
    });
  }
  if (now !== undefined && !(now instanceof Date && Number.isFinite(now.getTime()))) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`now\` to be a valid Date, got ${describeValue(now)}`, { field: 'now' });
  }
  if (environment !== undefined && !isEnvironmentName(environment)) {
    throw new ConfigError('CONFIG_INVALID', `Expected \`environment\` to be ${ENVIRONMENT_NAME_RULE}, got ${describeValue(environment)}`, {
      field: 'environment',
    });
  }
  return { secrets: hmacSecrets, publicKeys, toleranceSeconds, now, environment };
}

/**
 * Checks everything but the signature itself: the three headers, the timestamp
 * against the tolerance, the form of `webhook-signature`.
 *
 * @throws SignatureVerificationError `WEBHOOK_MISSING_HEADER`, `WEBHOOK_INVALID_TIMESTAMP`,
 *   `WEBHOOK_TIMESTAMP_TOO_OLD`, `WEBHOOK_TIMESTAMP_TOO_NEW` or `WEBHOOK_INVALID_SIGNATURE`.
 * @throws ValidationError `INPUT_INVALID` when `body` or `headers` has the wrong type
 *   (typically a body already parsed as JSON).
 */
export function readSignedMessage(message: WebhookMessage, options: ResolvedVerifyOptions): SignedMessage {
  if (typeof message !== 'object' || message === null) {
    throw new ValidationError('INPUT_INVALID', `Expected { body, headers }, got ${describeValue(message)}`);
  }
  const { body, headers } = message;
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new ValidationError(
      'INPUT_INVALID',
      `Expected \`body\` to be the raw body (a string or a Uint8Array, before any JSON parsing), got ${describeValue(body)}`,
      { field: 'body' },
    );
  }
  if (typeof headers !== 'object' || headers === null) {
    throw new ValidationError('INPUT_INVALID', `Expected \`headers\` to be a Headers or a plain object, got ${describeValue(headers)}`, {
      field: 'headers',
    });
  }
  const found = readHeaders(headers);
  const id = found.id;
  const timestampHeader = found.timestamp;
  const signatureHeader = found.signature;
  if (id === undefined) throw missing('webhook-id');
  if (timestampHeader === undefined) throw missing('webhook-timestamp');
  if (signatureHeader === undefined) throw missing('webhook-signature');

  const timestampSeconds = parseUnixSeconds(timestampHeader);
  // Compared in milliseconds, as the reference libraries (Go, Python) do: flooring the
  // clock to whole seconds would accept a message up to 999 ms past either bound.
  const ageMs = (options.now === undefined ? Date.now() : options.now.getTime()) - timestampSeconds * 1000;
  const toleranceMs = options.toleranceSeconds * 1000;
  if (ageMs > toleranceMs) {
    throw new SignatureVerificationError(
      'WEBHOOK_TIMESTAMP_TOO_OLD',
      `Expected \`webhook-timestamp\` at most ${options.toleranceSeconds} s old, got one ${ageMs / 1000} s old`,
    );
  }
  if (-ageMs > toleranceMs) {
    throw new SignatureVerificationError(
      'WEBHOOK_TIMESTAMP_TOO_NEW',
      `Expected \`webhook-timestamp\` at most ${options.toleranceSeconds} s in the future, got one ${-ageMs / 1000} s ahead`,
    );
  }
  const { v1, v1a } = parseSignatureHeader(signatureHeader);
  return { id, timestampSeconds, body, signatures: v1, ed25519Signatures: v1a, sequence: found.sequence };
}

function missing(name: string): SignatureVerificationError {
  return new SignatureVerificationError('WEBHOOK_MISSING_HEADER', `Missing the \`${name}\` header`);
}

interface FoundHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  sequence: string | undefined;
}

function readHeaders(headers: WebhookHeaders): FoundHeaders {
  if (typeof (headers as Headers).get === 'function') {
    // Headers lower-cases names itself, and joins a repeated header with ", ".
    const h = headers as Headers;
    return {
      id: single(h.get('webhook-id') ?? undefined, 'webhook-id'),
      timestamp: single(h.get('webhook-timestamp') ?? undefined, 'webhook-timestamp'),
      signature: single(h.get('webhook-signature') ?? undefined, 'webhook-signature'),
      sequence: h.get(SEQUENCE_HEADER) ?? undefined,
    };
  }
  const found: FoundHeaders = { id: undefined, timestamp: undefined, signature: undefined, sequence: undefined };
  const record = headers as { readonly [name: string]: WebhookHeaderValue };
  // One pass over the names: the length and first-letter filter skips most without lower-casing,
  // and seeing every spelling is what lets `Webhook-Id` and `webhook-id` conflict.
  for (const name in record) {
    const length = name.length;
    if ((length !== 10 && length !== 16 && length !== 17) || (name.charCodeAt(0) | 0x20) !== 119 /* w */) continue;
    const lower = name.toLowerCase();
    if (lower === 'webhook-id') found.id = merge(found.id, record[name], 'webhook-id');
    else if (lower === 'webhook-timestamp') found.timestamp = merge(found.timestamp, record[name], 'webhook-timestamp');
    else if (lower === 'webhook-signature') found.signature = merge(found.signature, record[name], 'webhook-signature');
    // Kept as sent, every copy: it is read only with the envelope, after the signature.
    else if (lower === SEQUENCE_HEADER) found.sequence = [found.sequence, record[name]].flat().join(', ');
  }
  return found;
}

function merge(previous: string | undefined, value: WebhookHeaderValue, name: string): string | undefined {
  let current: string | undefined;
  if (typeof value === 'string') {
    current = single(value, name);
  } else if (Array.isArray(value)) {
    for (const item of value as readonly unknown[]) {
      if (typeof item !== 'string') continue;
      const one = single(item, name);
      if (one === undefined) continue;
      if (current !== undefined && current !== one) throw repeated(name);
      current = one;
    }
  }
  if (current === undefined) return previous;
  if (previous !== undefined && previous !== current) throw repeated(name);
  return current;
}

/**
 * One header value. Node's `IncomingMessage.headers` and Fetch `Headers` join a
 * repeated header with ", ". An id (a header token) or a timestamp (digits) sent
 * once cannot contain ", "; a signature header sent once cannot contain "=, "
 * (its entries are space-separated and end in "="; only a malformed entry could
 * end in ","). Such a value came twice: accepted only if every copy is equal.
 */
function single(value: string | undefined, name: string): string | undefined {
  if (value === undefined || value.length === 0) return undefined;
  if (value.indexOf(name === 'webhook-signature' ? '=, ' : ', ') === -1) return value;
  const parts = value.split(', ');
  const first = parts[0]!;
  for (let i = 1; i < parts.length; i++) if (parts[i] !== first) throw repeated(name);
  return first.length === 0 ? undefined : first;
}

function repeated(name: string): SignatureVerificationError {
  const code =
    name === 'webhook-timestamp' ? 'WEBHOOK_INVALID_TIMESTAMP' : name === 'webhook-signature' ? 'WEBHOOK_INVALID_SIGNATURE' : 'WEBHOOK_MISSING_HEADER';
  return new SignatureVerificationError(code, `The \`${name}\` header was given more than once with different values`);
}

// 12 digits reach the year 33658: far enough, and the value stays a safe integer
// whose milliseconds a Date can hold.
const MAX_TIMESTAMP_DIGITS = 12;

function parseUnixSeconds(text: string): number {
  const length = text.length;
  if (length > MAX_TIMESTAMP_DIGITS) throw invalidTimestamp(text);
  let value = 0;
  for (let i = 0; i < length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) throw invalidTimestamp(text);
    value = value * 10 + digit;
  }
  return value;
}

function invalidTimestamp(text: string): SignatureVerificationError {
  return new SignatureVerificationError(
    'WEBHOOK_INVALID_TIMESTAMP',
    `Expected \`webhook-timestamp\` to be unix seconds (digits only), got ${describeValue(text)}`,
  );
}

// Base64 of a 32-byte HMAC-SHA256: 43 alphabet characters and one "=".
const SIGNATURE_LENGTH = 44;
// Base64 of a 64-byte Ed25519 signature: 86 alphabet characters and "==".
const V1A_SIGNATURE_LENGTH = 88;

/**
 * The most `v1a` entries of one header that are checked. Each costs an Ed25519 verification
 * per public key (tens of µs, where a `v1` entry costs a string comparison): a sender signs
 * once per active key, and a header stuffed with entries must not buy a forger CPU time.
 */
export const MAX_V1A_SIGNATURES = 8;
const base64Chars = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') base64Chars[c.charCodeAt(0)] = 1;

/**
 * The well-formed entries of a `webhook-signature` header: the base64 part of every `v1,`
 * entry, and the bytes of the first {@link MAX_V1A_SIGNATURES} `v1a,` entries. Entries of
 * other versions (`v2,…`) and malformed entries are skipped, as the spec lets a header
 * carry signatures a verifier does not know.
 *
 * @throws SignatureVerificationError `WEBHOOK_INVALID_SIGNATURE` when no entry is a
 *   well-formed `v1` or `v1a` signature.
 */
export function parseSignatureHeader(header: string): { v1: string[]; v1a: Uint8Array<ArrayBuffer>[] } {
  const v1: string[] = [];
  const v1a: Uint8Array<ArrayBuffer>[] = [];
  const length = header.length;
  let start = 0;
  while (start < length) {
    let end = header.indexOf(' ', start);
    if (end === -1) end = length;
    if (header.charCodeAt(start) === 118 /* v */ && header.charCodeAt(start + 1) === 49 /* 1 */) {
      if (end - start === SIGNATURE_LENGTH + 3 && header.charCodeAt(start + 2) === 44 /* , */ && isSignatureBase64(header, start + 3, SIGNATURE_LENGTH, 1)) {
        v1.push(header.slice(start + 3, end));
      } else if (
        end - start === V1A_SIGNATURE_LENGTH + 4 &&
        v1a.length < MAX_V1A_SIGNATURES &&
        header.charCodeAt(start + 2) === 97 /* a */ &&
        header.charCodeAt(start + 3) === 44 /* , */ &&
        isSignatureBase64(header, start + 4, V1A_SIGNATURE_LENGTH, 2)
      ) {
        v1a.push(decodeBase64(header.slice(start + 4, end)) as Uint8Array<ArrayBuffer>);
      }
    }
    start = end + 1;
  }
  if (v1.length === 0 && v1a.length === 0) {
    throw new SignatureVerificationError('WEBHOOK_INVALID_SIGNATURE', 'The `webhook-signature` header has no well-formed `v1,<base64>` or `v1a,<base64>` entry');
  }
  return { v1, v1a };
}

/** `length` characters from `from`: base64 alphabet, then exactly `padding` "=". */
function isSignatureBase64(text: string, from: number, length: number, padding: number): boolean {
  const last = from + length - padding;
  for (let i = from; i < last; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || base64Chars[c] === 0) return false;
  }
  for (let i = last; i < from + length; i++) if (text.charCodeAt(i) !== 61 /* = */) return false;
  return true;
}

/**
 * True when `expected` equals one of `presented`. Each comparison takes the same
 * time wherever the strings differ (the length of a signature is public), so the
 * response time leaks nothing about how close a forgery came.
 *
 * @internal Shared with `verifyWebhookAsync`.
 */
export function matchesAny(expected: string, presented: readonly string[]): boolean {
  let matched = false;
  for (let s = 0; s < presented.length; s++) {
    const candidate = presented[s]!;
    if (candidate.length !== expected.length) continue;
    let diff = 0;
    for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ candidate.charCodeAt(i);
    // No early exit: every presented signature is compared.
    if (diff === 0) matched = true;
  }
  return matched;
}

/** The error thrown when no presented signature matches any secret. */
export function noMatchingSignature(): SignatureVerificationError {
  return new SignatureVerificationError('WEBHOOK_NO_MATCHING_SIGNATURE', 'No signature in `webhook-signature` matches any of the secrets');
}

const encoder = new TextEncoder();

/**
 * The signed content, `id.timestamp.body`, as bytes: what an Ed25519 signature covers
 * (a string body as UTF-8, a `Uint8Array` byte for byte).
 *
 * @internal Shared with `verifyWebhookAsync`.
 */
export function signedContent(signed: SignedMessage): Uint8Array<ArrayBuffer> {
  const { id, timestampSeconds, body } = signed;
  if (typeof body === 'string') return encoder.encode(`${id}.${timestampSeconds}.${body}`);
  // Neither node:crypto's one-shot verify nor Web Crypto streams: prefix and bytes go into one buffer.
  const prefix = encoder.encode(`${id}.${timestampSeconds}.`);
  const content = new Uint8Array(prefix.length + body.length);
  content.set(prefix, 0);
  content.set(body, prefix.length);
  return content;
}

/** The parts of node:crypto the Ed25519 check uses, typed structurally (no `node:` type import here). */
interface Ed25519Crypto {
  createPublicKey(options: { key: Uint8Array; format: 'der'; type: 'spki' }): object;
  verify(algorithm: null, data: Uint8Array, key: object, signature: Uint8Array): boolean;
}

type NodeCrypto = HmacCrypto & Ed25519Crypto;

// SubjectPublicKeyInfo (RFC 8410) of an Ed25519 public key, up to the 32 key bytes that follow it.
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
// node:crypto public keys by `whpk_…` text, bounded like the decoded keys' caches.
const NODE_PUBLIC_KEY_CACHE_SIZE = 64;
const nodePublicKeys = new Map<string, object>();

function nodePublicKey(crypto: NodeCrypto, publicKey: string): object {
  let key = nodePublicKeys.get(publicKey);
  if (key === undefined) {
    const raw = publicKeyBytes(publicKey);
    const der = new Uint8Array(SPKI_PREFIX.length + raw.length);
    der.set(SPKI_PREFIX, 0);
    der.set(raw, SPKI_PREFIX.length);
    key = crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
    if (nodePublicKeys.size >= NODE_PUBLIC_KEY_CACHE_SIZE) nodePublicKeys.delete(nodePublicKeys.keys().next().value!);
    nodePublicKeys.set(publicKey, key);
  }
  return key;
}

let nodeCrypto: NodeCrypto | undefined;

function loadNodeCrypto(): NodeCrypto {
  if (nodeCrypto !== undefined) return nodeCrypto;
  // Looked up at call time, never imported: a static `node:crypto` import would keep
  // the receiver entry from bundling for edge runtimes (Node ≥ 20.16, Bun and Deno have it).
  const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const loaded = typeof process?.getBuiltinModule === 'function' ? (process.getBuiltinModule('node:crypto') as NodeCrypto | undefined) : undefined;
  if (loaded === undefined || typeof loaded.createHmac !== 'function') {
    throw new ConfigError(
      'CONFIG_INVALID',
      'verifyWebhook and verifyWebhookSignature need node:crypto (Node ≥ 20.16, Bun, Deno), which this runtime does not offer: use verifyWebhookAsync or verifyWebhookSignatureAsync, which run on Web Crypto',
    );
  }
  nodeCrypto = loaded;
  return loaded;
}

/**
 * Verifies a message's headers, timestamp and signature synchronously with
 * node:crypto (loaded lazily), without parsing the body.
 *
 * @returns the signed message, once one presented `v1` signature matches one secret or one
 *   presented `v1a` signature verifies with one public key.
 * @throws SignatureVerificationError with the code of the failed check.
 * @throws ConfigError `CONFIG_INVALID` in a runtime without node:crypto.
 */
export function verifySignature(message: WebhookMessage, options: ResolvedVerifyOptions): SignedMessage {
  const crypto = loadNodeCrypto();
  const signed = readSignedMessage(message, options);
  const { id, timestampSeconds, body, signatures, ed25519Signatures } = signed;
  const secrets = options.secrets;
  if (signatures.length > 0) {
    const prefix = `${id}.${timestampSeconds}.`;
    for (let i = 0; i < secrets.length; i++) {
      // Bytes are hashed as they came: decoding them to a string first would change
      // what is verified whenever they are not valid UTF-8.
      if (matchesAny(hmacSha256Base64(crypto, keyBytes(secrets[i]!), prefix, body), signatures)) return signed;
    }
  }
  const publicKeys = options.publicKeys;
  if (ed25519Signatures.length > 0 && publicKeys.length > 0) {
    const content = signedContent(signed);
    for (let k = 0; k < publicKeys.length; k++) {
      const key = nodePublicKey(crypto, publicKeys[k]!);
      for (let s = 0; s < ed25519Signatures.length; s++) if (crypto.verify(null, content, key, ed25519Signatures[s]!)) return signed;
    }
  }
  throw noMatchingSignature();
}

/** A body that is not the envelope, or not text: one code, the message says which. */
function invalidPayload(message: string, options?: { cause: unknown }): SignatureVerificationError {
  return new SignatureVerificationError('WEBHOOK_INVALID_PAYLOAD', message, options);
}

// `ignoreBOM` keeps a leading byte-order mark: the body is returned as it was signed.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The verified message with its body as a string.
 *
 * @throws SignatureVerificationError `WEBHOOK_INVALID_PAYLOAD` when the body's bytes are not UTF-8.
 */
export function verifiedMessage(signed: SignedMessage): VerifiedWebhookMessage {
  const { id, timestampSeconds, body } = signed;
  if (typeof body === 'string') return { id, timestamp: timestampSeconds, body };
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (cause) {
    throw invalidPayload(`Expected the signed body to be UTF-8 text, got ${body.length} bytes that are not`, {
      cause,
    });
  }
  return { id, timestamp: timestampSeconds, body: text };
}

/**
 * The event of a message whose signature verified: {@link parseWebhookEvent} of its body,
 * with its `webhook-sequence` header.
 *
 * @throws SignatureVerificationError as {@link verifiedMessage} and {@link parseWebhookEvent}.
 */
export function verifiedEvent<TEvent extends WebhookEvent = WebhookEvent>(signed: SignedMessage, expectedEnvironment: string | undefined): TEvent {
  return parseWebhookEvent<TEvent>(verifiedMessage(signed), expectedEnvironment, signed.sequence);
}

/**
 * Parses a verified body into the event envelope `{ id, type, version?, timestamp,
 * environment?, metadata?, orderingKey?, sequence?, data }` and, with `expectedEnvironment`, checks its
 * signed `environment`.
 *
 * @typeParam TEvent - the event type the caller expects; not checked at run time.
 * @param expectedEnvironment - the receiver's `environment` option, or `undefined` for any.
 * @param sequenceHeader - the request's `webhook-sequence` header, read only when the
 *   envelope has an `orderingKey`.
 * @throws SignatureVerificationError `WEBHOOK_INVALID_PAYLOAD` when the body is not
 *   JSON, not an object, has no non-empty string `type`, has a `timestamp` that is not a
 *   string (one that is absent is the `webhook-timestamp` time), has a `metadata` that is not
 *   an object of strings or an `orderingKey` that is not a non-empty string;
 *   `WEBHOOK_SEQUENCE_INVALID` when `webhook-sequence` is not a positive whole number in
 *   plain decimal, is repeated with different values, or comes with an envelope without
 *   `orderingKey`; `WEBHOOK_ENVIRONMENT_MISMATCH`
 *   when `expectedEnvironment` is set and the envelope names another environment, or none.
 */
export function parseWebhookEvent<TEvent extends WebhookEvent = WebhookEvent>(
  verified: VerifiedWebhookMessage,
  expectedEnvironment?: string,
  sequenceHeader?: string,
): TEvent {
  const { body } = verified;
  let value: unknown;
  try {
    // A leading byte-order mark is not JSON, but a UTF-8 decoder drops it: so does the envelope parse.
    value = JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body);
  } catch (cause) {
    throw invalidPayload('Expected the body to be JSON, got text that does not parse', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidPayload(`Expected the body to be a JSON object, got ${describeValue(value)}`);
  }
  const envelope = value as { type?: unknown; version?: unknown; timestamp?: unknown; environment?: unknown; metadata?: unknown; orderingKey?: unknown; data?: unknown };
  const type = envelope.type;
  if (typeof type !== 'string' || type.length === 0) {
    throw invalidPayload(`Expected the body's \`type\` to be a non-empty string, got ${describeValue(type)}`);
  }
  // An envelope without one is dated by its signature. A present one is the event's own time,
  // from which `maxEventAgeSeconds` reads its age: never replaced by the signature's, fresh on
  // every retry. Its shape is checked here, as `metadata`'s is; a string that is no date passes,
  // and the staleness check counts it stale.
  const sentTimestamp = envelope.timestamp;
  if (sentTimestamp !== undefined && typeof sentTimestamp !== 'string') {
    throw invalidPayload(`Expected the body's \`timestamp\` to be a string, got ${describeValue(sentTimestamp)}`);
  }
  const timestamp = sentTimestamp ?? new Date(verified.timestamp * 1000).toISOString();
  const event: WebhookEvent = { id: verified.id, type, timestamp, data: envelope.data };
  const { environment, metadata, version } = envelope;
  if (typeof environment === 'string') event.environment = environment;
  // Its shape only (an object of strings): the key and length rules are the sender's, and a
  // receiver reads what was signed. Anything else is a malformed envelope, as a bad `type` is.
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || !metadata || Array.isArray(metadata) || Object.values(metadata).some((value) => typeof value !== 'string')) {
      throw invalidPayload(`Expected the body's \`metadata\` to be an object of strings, got ${describeValue(metadata)}`);
    }
    event.metadata = metadata as Record<string, string>;
  }
  const orderingKey = envelope.orderingKey;
  if (orderingKey !== undefined) {
    // Non-empty is the shape; the length rule is the sender's, as for `metadata`.
    if (typeof orderingKey !== 'string' || orderingKey.length === 0) {
      throw invalidPayload(`Expected the body's \`orderingKey\` to be a non-empty string, got ${describeValue(orderingKey)}`);
    }
    event.orderingKey = orderingKey;
    event.sequence = parseSequence(sequenceHeader);
  } else if (sequenceHeader !== undefined && parseSequence(sequenceHeader) !== null) {
    // A number with nothing to order is a sender's bug or a forged header: not what it claims to be.
    throw new SignatureVerificationError('WEBHOOK_SEQUENCE_INVALID', 'Expected no `webhook-sequence` header on an event without `orderingKey`');
  }
  // Kept when it is a number, as the sender writes it (an integer); anything else is left out.
  if (typeof version === 'number') event.version = version;
  if (expectedEnvironment !== undefined && environment !== expectedEnvironment) throw environmentMismatch(expectedEnvironment, environment);
  return event as TEvent;
}

// A positive whole number in plain decimal, at most 16 digits (then checked to be a safe integer).
const SEQUENCE_DIGITS = /^[1-9]\d{0,15}$/;

/**
 * The `webhook-sequence` header's number, or `null` when there is none. Node and Fetch join a
 * repeated header with ", ": accepted only if every copy is equal, as the signed headers are.
 */
function parseSequence(header: string | undefined): number | null {
  const copies = new Set(header?.split(', '));
  copies.delete('');
  if (copies.size === 0) return null;
  const text = [...copies].join(', ');
  const sequence = Number(text);
  if (!SEQUENCE_DIGITS.test(text) || !Number.isSafeInteger(sequence)) {
    throw new SignatureVerificationError(
      'WEBHOOK_SEQUENCE_INVALID',
      `Expected \`webhook-sequence\` to be a positive whole number in plain decimal, sent once, got ${describeValue(text)}`,
    );
  }
  return sequence;
}

function environmentMismatch(expected: string, found: unknown): SignatureVerificationError {
  // A missing field is refused too: an event that names no environment may be from anywhere.
  const got = found === undefined ? 'an envelope without `environment`' : `environment ${describeValue(found)}`;
  return new SignatureVerificationError('WEBHOOK_ENVIRONMENT_MISMATCH', `Expected an event of environment ${JSON.stringify(expected)}, got ${got}`);
}
