/**
 * The memory storage's state of one ordering key of one subscription: the numbers of
 * storage/shared/ordering.ts, its head, and the deliveries waiting behind it in sequence
 * order (appends only ever raise the number, so a plain list stays sorted).
 */
import { advanceHead, appendToKey, type OrderingKeyState } from '../shared/ordering.js';
import type { DeliveryState } from './stored-records.js';

/** Waiting deliveries already moved past are dropped from the list's front once they are this many. */
const compactionSlack = 64;

function stillQueued(d: DeliveryState): boolean {
  return !d.removed && (d.status === 'pending' || d.status === 'held');
}

export class KeyLine {
  private state: OrderingKeyState | null = null;
  /** The key's head: the one delivery that may be attempted; `null` when the key is idle. */
  head: DeliveryState | null = null;
  private waiting: DeliveryState[] = [];
  private next = 0;

  get headSeq(): number {
    return this.state?.headSeq ?? 1;
  }

  /** Numbers a new delivery of the key; true when it is the head (else it waits: the caller leaves it without a due time). */
  append(d: DeliveryState): boolean {
    const appended = appendToKey(this.state);
    this.state = appended.state;
    d.orderingSequence = appended.sequence;
    if (appended.isHead) this.head = d;
    else this.waiting.push(d);
    return appended.isHead;
  }

  /** True when `d` is the key's head. */
  isHead(d: DeliveryState): boolean {
    return this.head === d;
  }

  /**
   * Moves the head past its current one (it passed): to the first waiting delivery still
   * pending or held, which is returned (the caller makes a pending one due); `null` when the
   * key goes idle.
   */
  advance(): DeliveryState | null {
    let found: DeliveryState | null = null;
    while (this.next < this.waiting.length) {
      const d = this.waiting[this.next]!;
      this.waiting[this.next++] = undefined as unknown as DeliveryState;
      if (stillQueued(d)) {
        found = d;
        break;
      }
    }
    if (this.next >= compactionSlack && this.next * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.next);
      this.next = 0;
    }
    this.state = advanceHead(this.state!, found === null ? null : found.orderingSequence);
    this.head = found;
    return found;
  }

  /** Deliveries of the key waiting behind its head: pending or held, or only the pending ones. */
  waitingCount(pendingOnly = false): number {
    let count = 0;
    for (let i = this.next; i < this.waiting.length; i++) {
      const d = this.waiting[i]!;
      if (pendingOnly ? !d.removed && d.status === 'pending' : stillQueued(d)) count++;
    }
    return count;
  }
}
