/**
 * Identifiers: a prefix and a ULID-shaped body (48-bit millisecond time + 80 random
 * bits, Crockford base32), so ids sort by creation time. Time-sortable ids make
 * cursor pagination a plain comparison in every storage.
 */
import { randomFillSync } from 'node:crypto';

const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
// One refill of the random pool serves many ids: a syscall per id was measurable on the publish path.
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

function randomBytes10(): Uint8Array {
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 10);
  poolOffset += 10;
  return bytes;
}

let lastTime = -1;
let lastRandom: Uint8Array = new Uint8Array(10);

/**
 * A new id `prefix_<26 chars>`. Ids made within the same millisecond stay ordered
 * (the random part is incremented), as the ULID spec's monotonic mode does.
 */
export function createId(prefix: string, timeMs: number = Date.now()): string {
  // A host clock may be fractional (performance.now()-based); the id's time is whole ms.
  let nowMs = Math.floor(timeMs);
  let random: Uint8Array;
  if (nowMs <= lastTime) {
    random = lastRandom;
    for (let i = 9; i >= 0; i--) {
      const byte = random[i]!;
      if (byte < 255) {
        random[i] = byte + 1;
        break;
      }
      random[i] = 0;
    }
    nowMs = lastTime;
  } else {
    random = new Uint8Array(randomBytes10());
    lastTime = nowMs;
  }
  lastRandom = random;
  // Built in one array and joined once: `+=` leaves V8 a rope of pieces (~525 B an id
  // instead of ~60 B), which dominated memory with a million pending deliveries.
  const chars = new Array<string>(26);
  let time = nowMs;
  for (let i = 9; i >= 0; i--) {
    chars[i] = alphabet[time % 32]!;
    time = Math.floor(time / 32);
  }
  // 80 bits → 16 base32 characters, 5 bits at a time.
  let buffer = 0;
  let bits = 0;
  let next = 10;
  for (let i = 0; i < 10; i++) {
    buffer = (buffer << 8) | random[i]!;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      chars[next++] = alphabet[(buffer >> bits) & 31]!;
    }
    buffer &= (1 << bits) - 1;
  }
  const out = chars.join('');
  return `${prefix}_${out}`;
}
