/**
 * Entries in (key, tie) order: a sorted run beside a {@link StampedHeap}, the top being the
 * smaller of their heads. It holds a subscription's claim entries (claim-schedule.ts), and
 * the deliveries of one final status by the time they became final (status-index.ts).
 *
 * Fresh deliveries arrive due at their creation time, with time-sortable ids, and
 * deliveries become final at the current time, so entries mostly come in (key, tie) order:
 * such an entry is appended to the run and later popped off its head in O(1), without the
 * ~20 levels of sift-down (and their cache misses) a heap of a million entries costs per
 * pop. Whatever would break the run's order (a retry, a lease, an id out of order, an entry
 * put back) goes to the heap, so the order served is exactly the heap's.
 */
import { StampedHeap } from './stamped-heap.js';

/** Entries in (key, tie) order (a subscription's claim entries, a final status's deliveries); pops count into `counter` as the heap's do. */
export class ClaimQueue<T> {
  private keys: number[] = [];
  private ties: string[] = [];
  private refs: (T | undefined)[] = [];
  private stamps: number[] = [];
  private head = 0;
  private readonly heap: StampedHeap<T>;

  constructor(private readonly counter: { pops: number }) {
    this.heap = new StampedHeap(counter);
  }

  get size(): number {
    return this.keys.length - this.head + this.heap.size;
  }

  /** True when the top comes from the run. */
  private fromRun(): boolean {
    if (this.head === this.keys.length) return false;
    if (this.heap.size === 0) return true;
    const key = this.keys[this.head]!;
    const heapKey = this.heap.topKey();
    return key < heapKey || (key === heapKey && this.ties[this.head]! <= this.heap.topTie());
  }

  topKey(): number {
    return this.fromRun() ? this.keys[this.head]! : this.heap.topKey();
  }

  topRef(): T {
    return this.fromRun() ? this.refs[this.head]! : this.heap.topRef();
  }

  topStamp(): number {
    return this.fromRun() ? this.stamps[this.head]! : this.heap.topStamp();
  }

  /** `inOrder`: the entry is a fresh one, which may join the run if it keeps the run sorted. */
  push(key: number, tie: string, ref: T, stamp: number, inOrder: boolean): void {
    const last = this.keys.length - 1;
    if (
      inOrder &&
      (last < this.head || key > this.keys[last]! || (key === this.keys[last]! && tie >= this.ties[last]!))
    ) {
      this.keys.push(key);
      this.ties.push(tie);
      this.refs.push(ref);
      this.stamps.push(stamp);
      return;
    }
    this.heap.push(key, tie, ref, stamp);
  }

  pop(): void {
    if (!this.fromRun()) {
      this.heap.pop();
      return;
    }
    this.counter.pops++;
    // Let go of the delivery at once; the slots themselves are reclaimed in bulk.
    this.refs[this.head] = undefined;
    this.head++;
    if (this.head === this.keys.length) {
      this.keys = [];
      this.ties = [];
      this.refs = [];
      this.stamps = [];
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.ties = this.ties.slice(this.head);
      this.refs = this.refs.slice(this.head);
      this.stamps = this.stamps.slice(this.head);
      this.head = 0;
    }
  }

  /** Visits every entry, stale ones included, in no particular order. */
  forEach(visit: (ref: T, stamp: number) => void): void {
    for (let i = this.head; i < this.keys.length; i++) visit(this.refs[i]!, this.stamps[i]!);
    this.heap.forEach(visit);
  }

  /** Keeps only the entries `live` accepts, in order. */
  retain(live: (ref: T, stamp: number) => boolean): void {
    const keys: number[] = [];
    const ties: string[] = [];
    const refs: T[] = [];
    const stamps: number[] = [];
    for (let i = this.head; i < this.keys.length; i++) {
      const ref = this.refs[i]!;
      if (!live(ref, this.stamps[i]!)) continue;
      keys.push(this.keys[i]!);
      ties.push(this.ties[i]!);
      refs.push(ref);
      stamps.push(this.stamps[i]!);
    }
    this.keys = keys;
    this.ties = ties;
    this.refs = refs;
    this.stamps = stamps;
    this.head = 0;
    this.heap.retain(live);
  }
}
