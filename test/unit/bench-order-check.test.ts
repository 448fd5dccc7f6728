import { describe, expect, it } from 'vitest';
import { checkOrder, orderHeld, type KeyedEvent } from '../../bench/order-check.js';

// The ordering bench's verdict on what the receiver saw: a figure is invalid unless this holds.
const events = new Map<string, KeyedEvent>([
  ['evt_a1', { key: 'a', sequence: 1 }],
  ['evt_a2', { key: 'a', sequence: 2 }],
  ['evt_a3', { key: 'a', sequence: 3 }],
  ['evt_b1', { key: 'b', sequence: 1 }],
  ['evt_b2', { key: 'b', sequence: 2 }],
]);

describe('checkOrder (bench/order-check.ts)', () => {
  it('holds when each key arrives in publish order, keys interleaved', () => {
    const check = checkOrder(
      [
        ['evt_b1', 1],
        ['evt_a1', 1],
        ['evt_a2', 2],
        ['evt_b2', 2],
        ['evt_a3', 3],
      ],
      events,
    );
    expect(check).toEqual({ sequenced: 5, outOfOrder: 0, misnumbered: 0, keysIncomplete: 0, unknown: 0 });
    expect(orderHeld(check, 5)).toBe(true);
  });

  it('counts a key delivered out of order', () => {
    const check = checkOrder(
      [
        ['evt_a2', 2],
        ['evt_a1', 1],
        ['evt_a3', 3],
        ['evt_b1', 1],
        ['evt_b2', 2],
      ],
      events,
    );
    expect(check.outOfOrder).toBe(2);
    expect(orderHeld(check, 5)).toBe(false);
  });

  it('counts a number that is not the event\'s place in its key, though the numbers rise', () => {
    const check = checkOrder(
      [
        ['evt_a2', 1],
        ['evt_a1', 2],
        ['evt_a3', 3],
        ['evt_b1', 1],
        ['evt_b2', 2],
      ],
      events,
    );
    expect(check).toMatchObject({ outOfOrder: 0, misnumbered: 2 });
    expect(orderHeld(check, 5)).toBe(false);
  });

  it('counts a key whose last delivery never came, a repeat, an unknown id and a malformed number', () => {
    const check = checkOrder(
      [
        ['evt_a1', 1],
        ['evt_a1', 1],
        ['evt_a2', 2],
        ['evt_b1', 1],
        ['evt_b2', 2],
        ['evt_x', 1],
        ['evt_a3', Number.NaN],
      ],
      events,
    );
    expect(check).toEqual({ sequenced: 7, outOfOrder: 1, misnumbered: 0, keysIncomplete: 1, unknown: 2 });
    expect(orderHeld(check, 5)).toBe(false);
  });

  it('does not hold when deliveries arrived without a number', () => {
    const check = checkOrder(
      [
        ['evt_a1', 1],
        ['evt_a2', 2],
        ['evt_a3', 3],
        ['evt_b1', 1],
      ],
      events,
    );
    expect(check).toMatchObject({ sequenced: 4, keysIncomplete: 1 });
    expect(orderHeld(check, 5)).toBe(false);
  });
});
