/**
 * How event payloads are kept at rest: as they are sent (the default), or sealed with
 * `security.payloadKey` (AES-256-GCM, the event id as associated data, key ids for
 * rotation). The publisher seals before the storage sees the payload; the dispatcher and
 * every read open it. Storages hold the sealed form as opaque text.
 */

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

/** The codec without a key: payloads are stored as they are sent. */
export const plainPayloadCodec: PayloadCodec = Object.freeze({
  sealing: false,
  seal: (payload: string) => payload,
  open: (stored: string) => stored,
});
