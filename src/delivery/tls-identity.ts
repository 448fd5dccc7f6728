/**
 * The id of a subscription's TLS identity: what names its connection pool in the transport.
 * Computed from the stored form (the key as stored, sealed or not), so the registry, which
 * retires an identity on update and delete, and the dispatcher, which opens it, agree on it
 * without the key in clear. A reseal makes a new id; the old pool idles out.
 */
import { createHash } from 'node:crypto';
import type { StoredTlsIdentity } from '../storage/storage-adapter.js';
import type { TransportTls } from './transport.js';

/** The id of `stored`: a SHA-256 over its four fields, each length-prefixed (`-` for an absent one, so none reads as another). */
export function tlsIdentityId(stored: StoredTlsIdentity): string {
  const hash = createHash('sha256');
  for (const part of [stored.clientCertificate, stored.clientKey, stored.ca, stored.serverName]) {
    if (part === null) hash.update('-');
    else hash.update(String(part.length)).update(':').update(part);
  }
  return `tls_${hash.digest('base64url')}`;
}

/** The identity a request carries: `stored` with its key (if any) opened by `openKey`. */
export function transportTls(stored: StoredTlsIdentity, openKey: (sealed: string) => string): TransportTls {
  const key = stored.clientKey === null ? null : openKey(stored.clientKey);
  return Object.freeze({ id: tlsIdentityId(stored), certificate: key === null ? null : stored.clientCertificate, key, ca: stored.ca, serverName: stored.serverName });
}
