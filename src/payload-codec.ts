/**
 * How event payloads are kept at rest: as they are sent (the default), or sealed with
 * `security.payloadKey` (AES-256-GCM, the event id as associated data, key ids for
 * rotation). The publisher seals before the storage sees the payload; the dispatcher and
 * every read open it. Storages hold the sealed form as opaque text.
 *
 * Stored form: `encp:v1:<keyId>:<iv base64url>:<ciphertext+tag base64url>`. Its prefix is
 * not that of a sealed secret (`enc:v1:`), and a plain payload is JSON (`{…}`), or `''`
 * once expunged: the three never read as one another.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigError } from './errors.js';
import { decodeKeyList, type SecretsKey } from './registry/secret-codec.js';

/** Seals and opens stored payloads. */
export interface PayloadCodec {
  /** True when payloads are sealed (a `security.payloadKey` is configured). */
  readonly sealing: boolean;
  /** The form to store for the payload of event `eventId`. */
  seal(payload: string, eventId: string): string;
  /**
   * The payload as it is sent, from its stored form (a plain stored payload passes through).
   * @throws ConfigError `PAYLOAD_KEY_INVALID` when a sealed payload does not open with the configured keys.
   */
  open(stored: string, eventId: string): string;
}

const prefix = 'encp:v1:';
const ivBytes = 12;
/** Fixed, and given to the decipher: a shorter tag cut from a forged value must not be accepted. */
const tagBytes = 16;

/** Whether a stored payload is in the sealed form (`encp:v1:…`), whichever key sealed it. */
export function isSealedPayload(stored: string): boolean {
  return stored.startsWith(prefix);
}

/** The codec without a key: payloads are stored as they are sent. */
export const plainPayloadCodec: PayloadCodec = Object.freeze({
  sealing: false,
  seal: (payload: string) => payload,
  open(stored: string, eventId: string) {
    // Sending the sealed text (signed) would hand the receiver ciphertext as the event.
    if (stored.startsWith(prefix)) {
      const keyId = stored.slice(prefix.length).split(':', 1)[0];
      throw new ConfigError('PAYLOAD_KEY_INVALID', `The payload of event ${eventId} is sealed with key id "${keyId}", but no \`security.payloadKey\` is configured`);
    }
    return stored;
  },
});

/**
 * The codec for the configured keys (`security.payloadKey`, normalised as `security.secretsKey`
 * is): the first key seals, every listed key opens; none gives {@link plainPayloadCodec}.
 * Keys are checked as `security.secretsKey`'s are (registry/secret-codec.ts `decodeKeyList`).
 * @throws ConfigError `PAYLOAD_KEY_INVALID` when a key is malformed or two share an id.
 */
export function createPayloadCodec(keys: readonly SecretsKey[]): PayloadCodec {
  if (keys.length === 0) return plainPayloadCodec;
  const byId = decodeKeyList(keys, { name: 'security.payloadKey', code: 'PAYLOAD_KEY_INVALID' });
  const currentKey = byId.get(keys[0]!.id)!;
  const currentPrefix = `${prefix}${keys[0]!.id}:`;
  return Object.freeze({
    sealing: true,
    seal(payload: string, eventId: string): string {
      const iv = randomBytes(ivBytes);
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv, { authTagLength: tagBytes });
      cipher.setAAD(Buffer.from(eventId));
      const sealed = Buffer.concat([cipher.update(payload, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${currentPrefix}${iv.toString('base64url')}:${sealed.toString('base64url')}`;
    },
    open(stored: string, eventId: string): string {
      // Payloads stored before the key was configured stay readable, and an expunged one is ''.
      if (!stored.startsWith(prefix)) return stored;
      const parts = stored.slice(prefix.length).split(':');
      const [keyId = '', ivText = '', sealedText = ''] = parts;
      const key = byId.get(keyId);
      if (key === undefined) {
        throw new ConfigError('PAYLOAD_KEY_INVALID', `The payload of event ${eventId} is sealed with key id "${keyId}", which is not in \`security.payloadKey\``);
      }
      const iv = Buffer.from(ivText, 'base64url');
      const sealed = Buffer.from(sealedText, 'base64url');
      if (parts.length !== 3 || iv.length !== ivBytes || sealed.length < tagBytes) {
        throw new ConfigError('PAYLOAD_KEY_INVALID', `The stored payload of event ${eventId} is not a whole sealed payload (${prefix}<key id>:<iv>:<sealed>)`);
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: tagBytes });
        decipher.setAAD(Buffer.from(eventId));
        decipher.setAuthTag(sealed.subarray(sealed.length - tagBytes));
        return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - tagBytes)), decipher.final()]).toString('utf8');
      } catch (cause) {
        throw new ConfigError(
          'PAYLOAD_KEY_INVALID',
          `The payload of event ${eventId} does not open with key id "${keyId}" (tampered with, or copied from another event)`,
          { cause },
        );
      }
    },
  });
}
