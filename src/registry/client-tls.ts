/**
 * A subscription's `tls` (mutual TLS, private CAs, a server name): the input checked with
 * node:crypto (the certificate parses and is valid now, the key parses and is the
 * certificate's, the CA bundle parses), the stored form with the key sealed like the signing
 * secrets, and the form reads show — the certificate and what it says, never the key.
 *
 * The client certificate and its key come together or not at all: an endpoint under a
 * private CA that asks for no client certificate is reached with `ca` (or `serverName`) alone.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ValidationError } from '../errors.js';
import type { StoredTlsIdentity } from '../storage/storage-adapter.js';
import type { SecretCodec } from './secret-codec.js';

/**
 * The `tls` of `subscriptions.create` and `update`: PEM text. At least one field is set;
 * `clientCertificate` and `clientKey` are given together (mutual TLS) or both left out (a
 * private CA or a server name only).
 * @example
 * ```ts
 * // Mutual TLS, the endpoint under a private CA:
 * { clientCertificate: certPem, clientKey: keyPem, ca: caPem }
 * // A private CA only (the endpoint asks for no client certificate):
 * { ca: caPem }
 * ```
 */
export interface TlsIdentityInput {
  /**
   * The client certificate (PEM) the endpoint asks for, optionally followed by its
   * intermediates. With `clientKey` or not at all.
   * @defaultValue null (no client certificate)
   */
  clientCertificate?: string | null;
  /**
   * Its private key (PEM, unencrypted: PKCS#8, PKCS#1 or SEC1). Sealed at rest with
   * `security.secretsKey`; never read back. With `clientCertificate` or not at all.
   * @defaultValue null
   */
  clientKey?: string | null;
  /**
   * The CA certificates (PEM, one or several) the endpoint's certificate must chain to —
   * instead of the public roots, for an endpoint under a private CA.
   */
  ca?: string | null;
  /** The name sent as SNI and checked against the endpoint's certificate, instead of the URL's host. */
  serverName?: string | null;
}

/**
 * A subscription's `tls` as reads show it: the client certificate and what it says, the
 * trust settings, never the key. Every field is always present: without a client
 * certificate (`hasClientKey: false`), `clientCertificate` and the facts read from it are
 * `null`; with one (`hasClientKey: true`) they are set (a stored certificate that no longer
 * parses shows empty facts: `''` and `0`).
 */
export type SubscriptionTls = SubscriptionTlsWithClientCertificate | SubscriptionTlsWithoutClientCertificate;

/** The trust settings, shown with or without a client certificate. */
interface SubscriptionTlsTrust {
  /** The CA certificates (PEM) the endpoint's certificate must chain to; `null`: the public roots. */
  ca: string | null;
  /** The name sent as SNI and checked against the endpoint's certificate; `null`: the URL's host. */
  serverName: string | null;
}

/** {@link SubscriptionTls} of a subscription that presents a client certificate (mutual TLS). */
export interface SubscriptionTlsWithClientCertificate extends SubscriptionTlsTrust {
  /** The client certificate (PEM) as stored. */
  clientCertificate: string;
  /** Its subject and issuer (distinguished names, one attribute a line, as node:crypto prints them). */
  subject: string;
  issuer: string;
  /** Epoch ms of the start and end of its validity. */
  validFrom: number;
  validTo: number;
  /** Its SHA-256 fingerprint (`AB:CD:…`), as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint256: string;
  /** The key is stored (sealed) and used, never shown. */
  hasClientKey: true;
}

/** {@link SubscriptionTls} of a subscription with a CA or a server name only: no client certificate. */
export interface SubscriptionTlsWithoutClientCertificate extends SubscriptionTlsTrust {
  clientCertificate: null;
  subject: null;
  issuer: null;
  validFrom: null;
  validTo: null;
  fingerprint256: null;
  /** No client certificate, so no key. */
  hasClientKey: false;
}

const maxPemLength = 64 * 1024;
const maxCaLength = 512 * 1024;
const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const hostname = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** What came, without its content (a key, or a certificate that is not one). */
function described(value: unknown): string {
  if (typeof value !== 'string') return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  const head = value.trimStart().slice(0, 40).match(/^-----BEGIN [A-Z0-9 ]+-----/)?.[0];
  return `a string of ${value.length} characters${head === undefined ? ' without a PEM header' : ` starting ${head}`}`;
}

function pemText(value: unknown, field: string, max: number, code: 'TLS_CERTIFICATE_INVALID' | 'TLS_KEY_INVALID', wanted: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    const size = typeof value === 'string' && value.length > max ? ` (at most ${max} characters)` : '';
    throw new ValidationError(code, `Expected \`${field}\` to be ${wanted}${size}, got ${described(value)}`, { field });
  }
  return value.trim();
}

function parseCertificates(pem: string, field: string): X509Certificate[] {
  const blocks = pem.match(certificateBlock) ?? [];
  if (blocks.length === 0) {
    throw new ValidationError('TLS_CERTIFICATE_INVALID', `Expected \`${field}\` to hold PEM certificates (-----BEGIN CERTIFICATE-----), got ${described(pem)}`, { field });
  }
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      const which = blocks.length === 1 ? '' : ` (certificate ${index + 1} of ${blocks.length})`;
      throw new ValidationError('TLS_CERTIFICATE_INVALID', `Expected \`${field}\` to hold valid PEM certificates, got one that does not parse${which}: ${(error as Error).message}`, {
        field,
        cause: error,
      });
    }
  });
}

function parseKey(pem: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    // The parser's message names the format problem, never the key's content.
    const encrypted = /ENCRYPTED/.test(pem) ? ' (an encrypted key: decrypt it first, e.g. openssl pkey -in key.pem -out plain.pem)' : '';
    throw new ValidationError('TLS_KEY_INVALID', `Expected \`tls.clientKey\` to be an unencrypted PEM private key, got ${described(pem)}${encrypted}`, {
      field: 'tls.clientKey',
      cause: error,
    });
  }
}

/** Whether a `tls` field counts as left out. */
function absent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

/**
 * Checks `tls` at `now` and returns it as stored, its key (if any) sealed for `subscriptionId`.
 * @throws ValidationError `TLS_CERTIFICATE_INVALID` (also a key without its certificate),
 *   `TLS_KEY_INVALID` (also a certificate without its key), `TLS_KEY_MISMATCH`, or
 *   `INPUT_INVALID` (the shape, no field set, `serverName`).
 */
export function storedTlsIdentity(input: unknown, subscriptionId: string, codec: SecretCodec, now: number): StoredTlsIdentity {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError('INPUT_INVALID', `Expected \`tls\` to be { clientCertificate?, clientKey?, ca?, serverName? } or null, got ${described(input)}`, { field: 'tls' });
  }
  const { clientCertificate, clientKey, ca, serverName, ...rest } = input as Record<string, unknown>;
  const unknownKey = Object.keys(rest)[0];
  if (unknownKey !== undefined) {
    throw new ValidationError('INPUT_INVALID', `Expected \`tls\` to have only the keys clientCertificate, clientKey, ca and serverName, got ${JSON.stringify(unknownKey)}`, {
      field: `tls.${unknownKey}`,
    });
  }
  if (absent(clientCertificate) && absent(clientKey) && absent(ca) && absent(serverName)) {
    throw new ValidationError(
      'INPUT_INVALID',
      'Expected `tls` to set clientCertificate with clientKey, ca, serverName, or several of them (or `tls: null` for none), got an object with none of them',
      { field: 'tls' },
    );
  }
  // Both or neither: a certificate without its key cannot be presented, and a key alone names no identity.
  if (!absent(clientCertificate) && absent(clientKey)) {
    throw new ValidationError('TLS_KEY_INVALID', `Expected \`tls.clientKey\` beside \`tls.clientCertificate\` (the two come together or not at all), got ${described(clientKey)}`, {
      field: 'tls.clientKey',
    });
  }
  if (absent(clientCertificate) && !absent(clientKey)) {
    throw new ValidationError(
      'TLS_CERTIFICATE_INVALID',
      `Expected \`tls.clientCertificate\` beside \`tls.clientKey\` (the two come together or not at all), got ${described(clientCertificate)}`,
      { field: 'tls.clientCertificate' },
    );
  }
  const client = absent(clientCertificate) ? null : clientIdentity(clientCertificate, clientKey, now);
  let caPem: string | null = null;
  if (!absent(ca)) {
    caPem = pemText(ca, 'tls.ca', maxCaLength, 'TLS_CERTIFICATE_INVALID', 'PEM certificates');
    parseCertificates(caPem, 'tls.ca');
  }
  let name: string | null = null;
  if (!absent(serverName)) {
    if (typeof serverName !== 'string' || !hostname.test(serverName) || isIP(serverName) !== 0) {
      throw new ValidationError('INPUT_INVALID', `Expected \`tls.serverName\` to be a DNS host name (SNI cannot carry an IP address), got ${JSON.stringify(serverName)?.slice(0, 100)}`, {
        field: 'tls.serverName',
      });
    }
    name = serverName.toLowerCase();
  }
  return {
    clientCertificate: client?.certificatePem ?? null,
    clientKey: client === null ? null : codec.seal(client.keyPem, subscriptionId),
    ca: caPem,
    serverName: name,
  };
}

/** The client certificate and key, checked: the certificate valid at `now`, the key its own. */
function clientIdentity(clientCertificate: unknown, clientKey: unknown, now: number): { certificatePem: string; keyPem: string } {
  const certificatePem = pemText(clientCertificate, 'tls.clientCertificate', maxPemLength, 'TLS_CERTIFICATE_INVALID', 'a PEM certificate');
  const [leaf] = parseCertificates(certificatePem, 'tls.clientCertificate');
  const validFrom = Date.parse(leaf!.validFrom);
  const validTo = Date.parse(leaf!.validTo);
  if (validTo <= now) {
    throw new ValidationError('TLS_CERTIFICATE_INVALID', `Expected \`tls.clientCertificate\` to be valid now, got one that expired at ${new Date(validTo).toISOString()}`, {
      field: 'tls.clientCertificate',
    });
  }
  if (validFrom > now) {
    throw new ValidationError('TLS_CERTIFICATE_INVALID', `Expected \`tls.clientCertificate\` to be valid now, got one valid from ${new Date(validFrom).toISOString()}`, {
      field: 'tls.clientCertificate',
    });
  }
  const keyPem = pemText(clientKey, 'tls.clientKey', maxPemLength, 'TLS_KEY_INVALID', 'an unencrypted PEM private key');
  const key = parseKey(keyPem);
  if (!leaf!.checkPrivateKey(key)) {
    throw new ValidationError(
      'TLS_KEY_MISMATCH',
      `Expected \`tls.clientKey\` to be the private key of \`tls.clientCertificate\` (${leaf!.subject.replaceAll('\n', ', ')}), got a ${key.asymmetricKeyType ?? 'private'} key that is not`,
      { field: 'tls.clientKey' },
    );
  }
  return { certificatePem, keyPem };
}

/** The stored `tls` as reads show it. A certificate that no longer parses (changed outside the API) shows empty facts. */
export function shownTls(stored: StoredTlsIdentity): SubscriptionTls {
  const trust = { ca: stored.ca, serverName: stored.serverName };
  const certificatePem = stored.clientCertificate;
  if (certificatePem === null || stored.clientKey === null) {
    return { clientCertificate: null, subject: null, issuer: null, validFrom: null, validTo: null, fingerprint256: null, hasClientKey: false, ...trust };
  }
  let facts = { subject: '', issuer: '', validFrom: 0, validTo: 0, fingerprint256: '' };
  try {
    const certificate = new X509Certificate(certificatePem);
    facts = {
      subject: certificate.subject,
      issuer: certificate.issuer,
      validFrom: Date.parse(certificate.validFrom),
      validTo: Date.parse(certificate.validTo),
      fingerprint256: certificate.fingerprint256,
    };
  } catch {
    // Shown as stored; a delivery with it fails as a `tls` error.
  }
  return { clientCertificate: certificatePem, ...facts, hasClientKey: true, ...trust };
}

/** The stored `tls` with its key resealed with the current key, or `null` when it needs no reseal (or has no key). */
export function resealedTls(stored: StoredTlsIdentity | null, subscriptionId: string, codec: SecretCodec): StoredTlsIdentity | null {
  if (stored === null || stored.clientKey === null || !codec.needsReseal(stored.clientKey)) return null;
  return { ...stored, clientKey: codec.seal(codec.open(stored.clientKey, subscriptionId), subscriptionId) };
}
