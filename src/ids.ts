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

const codes = Array.from(alphabet, (char) => char.charCodeAt(0));
/** The 10 time characters of `lastTime`, as char codes: ids of the same millisecond share them. */
const timeCodes: number[] = new Array<number>(10).fill(48);
/** The id's char codes, reused: one `String.fromCharCode` call then makes the string, flat. */
const idCodes: number[] = [];

/** Encodes a whole millisecond time (< 2^48) in 10 characters, 5 bits each, most significant first. */
function encodeTime(timeMs: number): void {
  // Split in two 25-bit halves so that the shifts stay in 32-bit integers.
  let low = timeMs % 33_554_432;
  let high = (timeMs - low) / 33_554_432;
  for (let i = 9; i >= 5; i--) {
    timeCodes[i] = codes[low & 31]!;
    low >>>= 5;
  }
  for (let i = 4; i >= 0; i--) {
    timeCodes[i] = codes[high & 31]!;
    high >>>= 5;
  }
}

/**
 * A new id `prefix_<26 chars>`. Ids made within the same millisecond stay ordered
 * (the random part is incremented), as the ULID spec's monotonic mode does.
 */
export function createId(prefix: string, timeMs: number = Date.now()): string {
  // A host clock may be fractional (performance.now()-based); the id's time is whole ms.
  const nowMs = Math.floor(timeMs);
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
  } else {
    random = new Uint8Array(randomBytes10());
    lastTime = nowMs;
    encodeTime(nowMs);
  }
  lastRandom = random;
  // Char codes first and one String.fromCharCode: joining pieces or `+=` leaves V8 a rope
  // (~525 B an id instead of ~60 B, which dominated memory with a million pending
  // deliveries), and the arithmetic stays in small integers — a tenth of the time of
  // building it from one-character strings.
  const out = idCodes;
  let n = 0;
  for (let i = 0; i < prefix.length; i++) out[n++] = prefix.charCodeAt(i);
  out[n++] = 95; /* _ */
  for (let i = 0; i < 10; i++) out[n++] = timeCodes[i]!;
  // 80 random bits → 16 characters: two 40-bit halves of 8 characters each.
  for (let h = 0; h < 10; h += 5) {
    const a = ((random[h]! << 24) | (random[h + 1]! << 16) | (random[h + 2]! << 8) | random[h + 3]!) >>> 0;
    const b = random[h + 4]!;
    out[n++] = codes[a >>> 27]!;
    out[n++] = codes[(a >>> 22) & 31]!;
    out[n++] = codes[(a >>> 17) & 31]!;
    out[n++] = codes[(a >>> 12) & 31]!;
    out[n++] = codes[(a >>> 7) & 31]!;
    out[n++] = codes[(a >>> 2) & 31]!;
    out[n++] = codes[((a & 3) << 3) | (b >>> 5)]!;
    out[n++] = codes[b & 31]!;
  }
  out.length = n;
  return String.fromCharCode.apply(null, out);
}
