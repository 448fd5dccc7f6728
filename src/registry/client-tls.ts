/**
 * A subscription's `tls` (mutual TLS and private CAs): the input checked with node:crypto
 * (the certificate parses and is valid now, the key parses and is the certificate's, the CA
 * bundle parses), the stored form with the key sealed like the signing secrets, and the
 * form reads show — the certificate and what it says, never the key.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ValidationError } from '../errors.js';
import type { StoredTlsIdentity } from '../storage/storage-adapter.js';
import type { SecretCodec } from './secret-codec.js';

/** The `tls` of `subscriptions.create` and `update`: PEM text. */
export interface TlsIdentityInput {
  /** The client certificate (PEM) the endpoint asks for, optionally followed by its intermediates. */
  clientCertificate: string;
  /** Its private key (PEM, unencrypted: PKCS#8, PKCS#1 or SEC1). Sealed at rest with `security.secretsKey`; never read back. */
  clientKey: string;
  /**
   * The CA certificates (PEM, one or several) the endpoint's certificate must chain to —
   * instead of the public roots, for an endpoint under a private CA.
   */
  ca?: string | null;
  /** The name sent as SNI and checked against the endpoint's certificate, instead of the URL's host. */
  serverName?: string | null;
}

/** A subscription's `tls` as reads show it: the certificate and what it says, the trust settings, never the key. */
export interface SubscriptionTls {
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
  /** Always true: the key is stored (sealed) and used, never shown. */
  hasClientKey: true;
  ca: string | null;
  serverName: string | null;
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

/**
 * Checks `tls` at `now` and returns it as stored, its key sealed for `subscriptionId`.
 * @throws ValidationError `TLS_CERTIFICATE_INVALID`, `TLS_KEY_INVALID`, `TLS_KEY_MISMATCH`,
 *   or `INPUT_INVALID` (the shape, `serverName`).
 */
export function storedTlsIdentity(input: unknown, subscriptionId: string, codec: SecretCodec, now: number): StoredTlsIdentity {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError('INPUT_INVALID', `Expected \`tls\` to be { clientCertificate, clientKey, ca?, serverName? } or null, got ${described(input)}`, { field: 'tls' });
  }
  const { clientCertificate, clientKey, ca, serverName, ...rest } = input as Record<string, unknown>;
  const unknownKey = Object.keys(rest)[0];
  if (unknownKey !== undefined) {
    throw new ValidationError('INPUT_INVALID', `Expected \`tls\` to have only the keys clientCertificate, clientKey, ca and serverName, got ${JSON.stringify(unknownKey)}`, {
      field: `tls.${unknownKey}`,
    });
  }
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
  let caPem: string | null = null;
  if (ca !== undefined && ca !== null) {
    caPem = pemText(ca, 'tls.ca', maxCaLength, 'TLS_CERTIFICATE_INVALID', 'PEM certificates');
    parseCertificates(caPem, 'tls.ca');
  }
  let name: string | null = null;
  if (serverName !== undefined && serverName !== null) {
    if (typeof serverName !== 'string' || !hostname.test(serverName) || isIP(serverName) !== 0) {
      throw new ValidationError('INPUT_INVALID', `Expected \`tls.serverName\` to be a DNS host name (SNI cannot carry an IP address), got ${JSON.stringify(serverName)?.slice(0, 100)}`, {
        field: 'tls.serverName',
      });
    }
    name = serverName.toLowerCase();
  }
  return { clientCertificate: certificatePem, clientKey: codec.seal(keyPem, subscriptionId), ca: caPem, serverName: name };
}

/** The stored `tls` as reads show it. A certificate that no longer parses (changed outside the API) shows empty facts. */
export function shownTls(stored: StoredTlsIdentity): SubscriptionTls {
  let facts = { subject: '', issuer: '', validFrom: 0, validTo: 0, fingerprint256: '' };
  try {
    const certificate = new X509Certificate(stored.clientCertificate);
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
  return { clientCertificate: stored.clientCertificate, ...facts, hasClientKey: true, ca: stored.ca, serverName: stored.serverName };
}

/** The stored `tls` with its key resealed with the current key, or `null` when it needs no reseal. */
export function resealedTls(stored: StoredTlsIdentity | null, subscriptionId: string, codec: SecretCodec): StoredTlsIdentity | null {
  if (stored === null || !codec.needsReseal(stored.clientKey)) return null;
  return { ...stored, clientKey: codec.seal(codec.open(stored.clientKey, subscriptionId), subscriptionId) };
}
