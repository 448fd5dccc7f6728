import { describe, expect, it } from 'vitest';
import { createId } from '../../src/ids.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const BODY = /^[0-9A-HJKMNP-TV-Z]{26}$/;

function bodyOf(id: string): string {
  return id.slice(id.indexOf('_') + 1);
}

/** The 48-bit millisecond time in the first 10 characters of the body. */
function timeOf(id: string): number {
  let time = 0;
  for (const char of bodyOf(id).slice(0, 10)) time = time * 32 + CROCKFORD.indexOf(char);
  return time;
}

// Ids are made in increasing time across the file: createId keeps a monotonic state
// per process, so a test handing it an earlier time would see the later one reused.
let clock = Date.UTC(2026, 0, 1);
function nextMs(step = 1): number {
  clock += step;
  return clock;
}

describe('createId', () => {
  it('is the prefix, an underscore and a 26-character Crockford base32 body', () => {
    const id = createId('evt', nextMs());
    expect(id).toMatch(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(createId('dlv', nextMs()).startsWith('dlv_')).toBe(true);
    expect(createId('sub', nextMs()).startsWith('sub_')).toBe(true);
  });

  it('never uses the letters Crockford base32 leaves out (I, L, O, U) or lowercase', () => {
    for (let i = 0; i < 2_000; i++) expect(bodyOf(createId('x', nextMs()))).toMatch(BODY);
  });

  it('encodes the millisecond time in the first 10 characters', () => {
    const at = nextMs(1_000);
    expect(timeOf(createId('evt', at))).toBe(at);
  });

  it('sorts by creation time, as strings', () => {
    const ids: string[] = [];
    for (let i = 0; i < 500; i++) ids.push(createId('evt', nextMs(1 + (i % 7) * 1_000)));
    expect([...ids].sort()).toEqual(ids);
  });

  it('sorts across a carry of the time digits (31 → 32 ms in the last character)', () => {
    const base = Math.ceil(nextMs(100) / 32) * 32 + 31;
    clock = base + 1;
    const a = createId('evt', base);
    const b = createId('evt', base + 1);
    expect(a < b).toBe(true);
  });

  it('stays strictly increasing for 10,000 ids made in the same millisecond', () => {
    const at = nextMs(1_000);
    const ids = Array.from({ length: 10_000 }, () => createId('evt', at));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids.map(timeOf))).toEqual(new Set([at]));
  });

  it('encodes the 80 random bits in the last 16 characters: same-millisecond ids count up by exactly one', () => {
    const at = nextMs(1_000);
    const randomOf = (id: string): bigint => {
      let value = 0n;
      for (const char of bodyOf(id).slice(10)) value = value * 32n + BigInt(CROCKFORD.indexOf(char));
      return value;
    };
    let previous = randomOf(createId('evt', at));
    expect(previous < 1n << 80n).toBe(true);
    // 3,000 steps cross carries out of the last byte and out of the last character.
    for (let i = 0; i < 3_000; i++) {
      const next = randomOf(createId('evt', at));
      expect(next - previous).toBe(1n);
      previous = next;
    }
  });

  it('stays ordered when the clock steps back, instead of going back in time', () => {
    const at = nextMs(1_000);
    const first = createId('evt', at);
    const afterStepBack = createId('evt', at - 500);
    expect(afterStepBack > first).toBe(true);
  });

  it('is unique across 100,000 ids', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 100_000; i++) ids.add(createId('evt', nextMs(i % 10 === 0 ? 1 : 0)));
    expect(ids.size).toBe(100_000);
  });

  it('draws a fresh random part when the millisecond changes', () => {
    const a = bodyOf(createId('evt', nextMs()));
    const b = bodyOf(createId('evt', nextMs()));
    expect(a.slice(10)).not.toBe(b.slice(10));
  });

  it('makes a well-formed id from a fractional millisecond time (an injected clock built on performance.now())', () => {
    const at = nextMs(1_000) + 0.5;
    const id = createId('evt', at);
    expect(id).toMatch(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(timeOf(id)).toBe(Math.floor(at));
    clock = Math.ceil(at);
  });

  it('uses the wall clock when no time is given', () => {
    // The file's clock runs ahead of the wall clock only if the wall clock is before 2026.
    const before = Date.now();
    const id = createId('evt');
    expect(id).toMatch(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(timeOf(id)).toBeGreaterThanOrEqual(Math.min(before, clock));
  });
});
