/**
 * The ordering suite's check of what the receiver process saw (bench/suites/ordering.ts):
 * each ordering key's deliveries must arrive in the order their events were published, and
 * each carry its number among them (`webhook-sequence`: 1, 2, 3, … in publish order), none
 * repeated, skipped or late.
 */

/** An event of an ordered backlog: its key and its number among the key's events (from 1, in publish order). */
export interface KeyedEvent {
  key: string;
  sequence: number;
}

/** What the receiver saw of one trial's order (see {@link checkOrder}). */
export interface OrderCheck {
  /** Requests that carried a `webhook-sequence`. */
  sequenced: number;
  /** Of those, arrivals whose number was not the next of their key (one after the last arrived, 1 for its first). */
  outOfOrder: number;
  /** Arrivals whose number was not their event's place among its key's events. */
  misnumbered: number;
  /** Keys whose numbers did not end at the key's count of events (one missing, or never sent). */
  keysIncomplete: number;
  /** Sequenced arrivals of an event this trial did not publish with a key, or with a malformed number. */
  unknown: number;
}

/** True when every event of the backlog arrived once, in its key's order, with its own number. */
export function orderHeld(check: OrderCheck, events: number): boolean {
  return check.sequenced === events && check.outOfOrder === 0 && check.misnumbered === 0 && check.keysIncomplete === 0 && check.unknown === 0;
}

/**
 * Walks the receiver's `[webhook-id, webhook-sequence]` list in arrival order: each key's
 * numbers must rise by exactly one from 1 (a retry would repeat one: none is expected against
 * a receiver that always answers 2xx), each the arriving event's own, ending at the key's count.
 */
export function checkOrder(sequenced: ReadonlyArray<[string, number]>, events: ReadonlyMap<string, KeyedEvent>): OrderCheck {
  const countOfKey = new Map<string, number>();
  for (const { key } of events.values()) countOfKey.set(key, (countOfKey.get(key) ?? 0) + 1);
  const last = new Map<string, number>();
  let outOfOrder = 0;
  let misnumbered = 0;
  let unknown = 0;
  for (const [id, sequence] of sequenced) {
    const event = events.get(id);
    if (event === undefined || !Number.isSafeInteger(sequence)) {
      unknown += 1;
      continue;
    }
    const previous = last.get(event.key) ?? 0;
    if (sequence !== previous + 1) outOfOrder += 1;
    if (sequence !== event.sequence) misnumbered += 1;
    last.set(event.key, Math.max(sequence, previous));
  }
  let keysIncomplete = 0;
  for (const [key, count] of countOfKey) if (last.get(key) !== count) keysIncomplete += 1;
  return { sequenced: sequenced.length, outOfOrder, misnumbered, keysIncomplete, unknown };
}
