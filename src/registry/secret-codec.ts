/**
 * Secrets at rest. With `security.secretsKey`, every subscription secret is sealed
 * with AES-256-GCM before it reaches the storage, bound to its subscription id (as
 * additional authenticated data, so a sealed secret copied onto another row does not
 * open), and tagged with the key's id so keys can be rotated: the first key seals,
 * every listed key opens. Without a key, secrets are stored as they are — and the
 * instance warns at start-up.
 *
 * Stored form: `enc:v1:<keyId>:<iv base64url>:<ciphertext+tag base64url>`.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.js';

/** One encryption key: 32 bytes, base64-encoded, with an id stored beside each sealed secret. */
export interface SecretsKey {
  id: string;
  /** 32 random bytes, base64 (e.g. `openssl rand -base64 32`). */
  key: string;
}

/** Seals and opens subscription secrets. */
export interface SecretCodec {
  /** Whether secrets are encrypted at rest. */
  readonly encrypts: boolean;
  seal(secret: string, subscriptionId: string): string;
  /** Opens a stored secret; plain (never sealed) values pass through. */
  open(stored: string, subscriptionId: string): string;
  /** True when the stored value is sealed with a key other than the current one, or not sealed at all. */
  needsReseal(stored: string): boolean;
}

const prefix = 'enc:v1:';

/** Whether a stored value is in the sealed form (`enc:v1:…`), whichever key sealed it. */
export function isSealedValue(stored: string): boolean {
  return stored.startsWith(prefix);
}

/** Which option a key list comes from, and the code its problems carry. */
export interface KeyListOption {
  name: 'security.secretsKey' | 'security.payloadKey';
  code: 'SECRET_INVALID' | 'PAYLOAD_KEY_INVALID';
}

/**
 * Decodes a key list (`security.secretsKey`, `security.payloadKey`): each key 32 bytes of
 * base64 with an id of 1–64 letters, digits, `_` or `-`, the ids unique. Keys by id, in order.
 * @throws ConfigError with `option.code`, naming the key.
 */
export function decodeKeyList(keys: readonly SecretsKey[], option: KeyListOption): Map<string, Buffer> {
  const byId = new Map<string, Buffer>();
  keys.forEach((key, index) => {
    const bytes = Buffer.from(key.key, 'base64');
    if (bytes.length !== 32 || bytes.toString('base64').replace(/=+$/, '') !== key.key.replace(/=+$/, '')) {
      throw new ConfigError(option.code, `Expected \`${option.name}[${index}].key\` to be 32 bytes in base64`, { field: `${option.name}.${index}.key` });
    }
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(key.id)) {
      throw new ConfigError(option.code, `Expected \`${option.name}[${index}].id\` to be 1–64 letters, digits, _ or -`, { field: `${option.name}.${index}.id` });
    }
    byId.set(key.id, bytes);
  });
  if (byId.size !== keys.length) throw new ConfigError(option.code, `Expected the ids of \`${option.name}\` to be unique`, { field: option.name });
  return byId;
}

/** Normalises `security.secretsKey`: a base64 key (its id derived from its hash) or a list, current key first. */
export function normalizeSecretsKeys(value: string | readonly SecretsKey[]): SecretsKey[] {
  if (typeof value === 'string') {
    return [{ id: createHash('sha256').update(value).digest('hex').slice(0, 12), key: value }];
  }
  return [...value];
}

const plainCodec: SecretCodec = Object.freeze({
  encrypts: false,
  seal: (secret: string) => secret,
  open(stored: string) {
    if (stored.startsWith(prefix)) {
      throw new ConfigError('SECRET_INVALID', 'A subscription secret is encrypted at rest, but no `security.secretsKey` is configured');
    }
    return stored;
  },
  needsReseal: () => false,
});

/** Creates the codec for the configured keys (none: secrets stored as they are). */
export function createSecretCodec(keys: readonly SecretsKey[]): SecretCodec {
  if (keys.length === 0) return plainCodec;
  const byId = decodeKeyList(keys, { name: 'security.secretsKey', code: 'SECRET_INVALID' });
  const current = { id: keys[0]!.id, bytes: byId.get(keys[0]!.id)! };
  return Object.freeze({
    encrypts: true,
    seal(secret: string, subscriptionId: string): string {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.bytes, iv);
      cipher.setAAD(Buffer.from(subscriptionId));
      const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${prefix}${current.id}:${iv.toString('base64url')}:${sealed.toString('base64url')}`;
    },
    open(stored: string, subscriptionId: string): string {
      // Secrets stored before encryption was switched on stay readable until resealed.
      if (!stored.startsWith(prefix)) return stored;
      const [keyId, iv, sealed] = stored.slice(prefix.length).split(':');
      const key = keyId === undefined ? undefined : byId.get(keyId);
      if (key === undefined || iv === undefined || sealed === undefined) {
        throw new ConfigError('SECRET_INVALID', `A subscription secret is sealed with key id "${keyId ?? ''}", which is not in \`security.secretsKey\``);
      }
      const bytes = Buffer.from(sealed, 'base64url');
      try {
        // A whole 16-byte tag, always: Node would check a shorter one (down to 4 bytes) as given, an easier forgery.
        if (bytes.length < 16) throw new Error('the sealed value is shorter than its authentication tag');
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
        decipher.setAAD(Buffer.from(subscriptionId));
        decipher.setAuthTag(bytes.subarray(bytes.length - 16));
        return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
      } catch (error) {
        throw new ConfigError('SECRET_INVALID', `A subscription secret does not open with key id "${keyId}" (tampered, or copied from another subscription)`, {
          cause: error,
        });
      }
    },
    needsReseal: (stored: string) => !stored.startsWith(`${prefix}${current.id}:`),
  });
}
