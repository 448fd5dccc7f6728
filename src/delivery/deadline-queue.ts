/**
 * The deadlines of requests in flight, on one timer for them all rather than a timer
 * (and an AbortController) per request, which costs the dispatcher's main thread
 * visibly at loopback speeds (DESIGN §9). Requests with the same timeout start in
 * deadline order, so each timeout value keeps a list appended at its tail — a FIFO in
 * deadline order — from which a finished request unlinks itself in O(1). The timer is
 * armed at the earliest head; when it fires, every head past its deadline expires.
 * It never keeps the process alive.
 */

/** One timeout value's requests, oldest (earliest deadline) first. */
interface Lane {
  head: Expiring | null;
  tail: Expiring | null;
}

/** Something with a deadline, such as a request in flight; linked into a lane while pending. */
export abstract class Expiring {
  /** When it expires, on the `performance.now()` clock. */
  deadlineAt = 0;
  // The links of its lane, kept by DeadlineQueue alone.
  laneOf: Lane | null = null;
  lanePrevious: Expiring | null = null;
  laneNext: Expiring | null = null;

  /** Called once, when the deadline passes before the entry was removed. */
  abstract expire(): void;
}

/** Expires each added entry at its deadline unless it is removed first. */
export class DeadlineQueue {
  readonly #lanes = new Map<number, Lane>();
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;

  /** Gives `entry` a deadline `timeoutMs` from now. */
  add(entry: Expiring, timeoutMs: number): void {
    let lane = this.#lanes.get(timeoutMs);
    if (lane === undefined) {
      lane = { head: null, tail: null };
      this.#lanes.set(timeoutMs, lane);
    }
    const deadlineAt = performance.now() + timeoutMs;
    entry.deadlineAt = deadlineAt;
    entry.laneOf = lane;
    entry.lanePrevious = lane.tail;
    entry.laneNext = null;
    if (lane.tail === null) lane.head = entry;
    else lane.tail.laneNext = entry;
    lane.tail = entry;
    // Only a deadline earlier than every other re-arms the timer: with one timeout
    // value that is the first request after an idle spell, not every request.
    if (deadlineAt < this.#timerAt) this.#arm(deadlineAt);
  }

  /** Takes `entry` out: it finished in time. Harmless if it is not in the queue. */
  remove(entry: Expiring): void {
    const lane = entry.laneOf;
    if (lane === null) return;
    const { lanePrevious: previous, laneNext: next } = entry;
    if (previous === null) lane.head = next;
    else previous.laneNext = next;
    if (next === null) lane.tail = previous;
    else next.lanePrevious = previous;
    entry.laneOf = null;
    entry.lanePrevious = null;
    entry.laneNext = null;
    // The timer stays armed for the removed head: it wakes once, finds a later head and re-arms.
  }

  /** Stops the timer. Entries still queued never expire. */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = at;
    // Rounded up: a timer fires no earlier than its whole milliseconds.
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(at - performance.now())));
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const lane of this.#lanes.values()) {
      let head = lane.head;
      while (head !== null && head.deadlineAt <= now) {
        this.remove(head);
        head.expire();
        head = lane.head;
      }
      if (head !== null && head.deadlineAt < next) next = head.deadlineAt;
    }
    // An expire() may have added an entry and armed the timer already; keep the earlier.
    if (next < this.#timerAt) this.#arm(next);
  };
}
