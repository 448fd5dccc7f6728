/**
 * A binary min-heap keyed by (key, tie), with a stamp per entry so that its owner can
 * invalidate entries lazily (an entry is live only while its stamp is the ref's current
 * one) rather than find and remove them. Parallel arrays rather than an object per entry:
 * with a million entries the per-entry allocation showed in GC time. The tie is stored
 * rather than read off the ref: a subscription's entry is ordered by the id of its head at
 * push time.
 */

/** A min-heap of (key, tie, ref, stamp) entries; the caller judges which are live. */
export class StampedHeap<T> {
  private keys: number[] = [];
  private ties: string[] = [];
  private refs: T[] = [];
  private stamps: number[] = [];

  /** `counter.pops` counts the entries popped (live and stale): what claims actually touched. */
  constructor(private readonly counter: { pops: number }) {}

  get size(): number {
    return this.keys.length;
  }

  topKey(): number {
    return this.keys[0]!;
  }

  topTie(): string {
    return this.ties[0]!;
  }

  topRef(): T {
    return this.refs[0]!;
  }

  topStamp(): number {
    return this.stamps[0]!;
  }

  push(key: number, tie: string, ref: T, stamp: number): void {
    const keys = this.keys;
    const ties = this.ties;
    const refs = this.refs;
    const stamps = this.stamps;
    let i = keys.length;
    keys.push(key);
    ties.push(tie);
    refs.push(ref);
    stamps.push(stamp);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentKey = keys[parent]!;
      const parentTie = ties[parent]!;
      if (parentKey < key || (parentKey === key && parentTie <= tie)) break;
      keys[i] = parentKey;
      ties[i] = parentTie;
      refs[i] = refs[parent]!;
      stamps[i] = stamps[parent]!;
      i = parent;
    }
    keys[i] = key;
    ties[i] = tie;
    refs[i] = ref;
    stamps[i] = stamp;
  }

  pop(): void {
    this.counter.pops++;
    const key = this.keys.pop()!;
    const tie = this.ties.pop()!;
    const ref = this.refs.pop()!;
    const stamp = this.stamps.pop()!;
    if (this.keys.length > 0) this.siftDown(0, key, tie, ref, stamp);
  }

  /** Visits every entry, stale ones included, in no particular order. */
  forEach(visit: (ref: T, stamp: number) => void): void {
    for (let i = 0; i < this.keys.length; i++) visit(this.refs[i]!, this.stamps[i]!);
  }

  /** Keeps only the entries `live` accepts and restores the heap order in O(n). */
  retain(live: (ref: T, stamp: number) => boolean): void {
    const keys: number[] = [];
    const ties: string[] = [];
    const refs: T[] = [];
    const stamps: number[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      const ref = this.refs[i]!;
      const stamp = this.stamps[i]!;
      if (!live(ref, stamp)) continue;
      keys.push(this.keys[i]!);
      ties.push(this.ties[i]!);
      refs.push(ref);
      stamps.push(stamp);
    }
    this.keys = keys;
    this.ties = ties;
    this.refs = refs;
    this.stamps = stamps;
    for (let i = (keys.length >> 1) - 1; i >= 0; i--) this.siftDown(i, keys[i]!, ties[i]!, refs[i]!, stamps[i]!);
  }

  private siftDown(start: number, key: number, tie: string, ref: T, stamp: number): void {
    const keys = this.keys;
    const ties = this.ties;
    const refs = this.refs;
    const stamps = this.stamps;
    const n = keys.length;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      let child = left;
      const right = left + 1;
      if (right < n) {
        const rk = keys[right]!;
        const lk = keys[left]!;
        if (rk < lk || (rk === lk && ties[right]! < ties[left]!)) child = right;
      }
      const childKey = keys[child]!;
      const childTie = ties[child]!;
      if (key < childKey || (key === childKey && tie <= childTie)) break;
      keys[i] = childKey;
      ties[i] = childTie;
      refs[i] = refs[child]!;
      stamps[i] = stamps[child]!;
      i = child;
    }
    keys[i] = key;
    ties[i] = tie;
    refs[i] = ref;
    stamps[i] = stamp;
  }
}
