/**
 * A list kept sorted by id in chunks (sorted arrays of at most {@link maxChunk} items, in
 * order): the memory storage's large id orders — every delivery, every event, each
 * subscription's deliveries, each tenant's events.
 *
 * Ids are made in time order, so an insert is an append to the last chunk in all but odd
 * cases. Removing a batch (retention, a tenant's purge) filters only the chunks holding its
 * items, where one sorted array would be copied whole: O(batch · log n + touched chunks ·
 * {@link maxChunk}), the chunk list itself spliced when a chunk empties or two merge. A walk
 * from an id (a page after a cursor) costs two binary searches, then O(1) per item.
 *
 * Chunks that shrink are merged with a neighbour whenever the two fit in one, so two
 * neighbours never both fit in one chunk: chunks are more than half full on average and
 * there are fewer than 2n / {@link maxChunk} + 1 of them.
 */
import { lowerBound, type IdOrder } from './sorted-by-id.js';

/** Items per chunk at most: a removal copies at most this many, and a lookup searches ~n/this chunks. */
export const maxChunk = 512;

/** Items sorted by id, in chunks; ids are unique. */
export class ChunkedIdList<T extends { id: string }> implements IdOrder<T>, Iterable<T> {
  private chunks: T[][] = [];
  private count = 0;

  /** How many items the list holds. */
  get size(): number {
    return this.count;
  }

  /** How many chunks hold the items (for its tests: the merge rule bounds it). */
  get chunkCount(): number {
    return this.chunks.length;
  }

  /** Inserts in id order. */
  insert(item: T): void {
    this.count++;
    const chunks = this.chunks;
    const last = chunks[chunks.length - 1];
    if (last === undefined) {
      chunks.push([item]);
      return;
    }
    if (last[last.length - 1]!.id < item.id) {
      if (last.length < maxChunk) last.push(item);
      else chunks.push([item]);
      return;
    }
    // Not past the last id, so some chunk's last id is ≥ it: that chunk takes it.
    const at = this.chunkFor(item.id);
    const chunk = chunks[at]!;
    chunk.splice(lowerBound(chunk, item.id), 0, item);
    if (chunk.length <= maxChunk) return;
    chunks.splice(at + 1, 0, chunk.splice(chunk.length >> 1));
    // Either half may now fit with its outer neighbour.
    this.mergeIfFits(at + 1);
    this.mergeIfFits(at - 1);
  }

  /** Removes the items given (by identity; those not in the list are ignored). */
  removeAll(items: Iterable<T>): void {
    const gone = new Set(items);
    const touched = new Set<number>();
    for (const item of gone) {
      const at = this.chunkFor(item.id);
      if (at < this.chunks.length) touched.add(at);
    }
    // Highest first: repacking a chunk changes the indexes of those after it, never before.
    for (const at of [...touched].sort((a, b) => b - a)) {
      const chunk = this.chunks[at]!;
      const kept = chunk.filter((item) => !gone.has(item));
      this.count -= chunk.length - kept.length;
      this.chunks[at] = kept;
      this.repack(at);
    }
  }

  /** The first `n` items (fewer when the list is shorter). */
  first(n: number): T[] {
    const items: T[] = [];
    for (const item of this) {
      if (items.length === n) break;
      items.push(item);
    }
    return items;
  }

  /** The items, least id first. */
  [Symbol.iterator](): Generator<T> {
    return this.ascending(null);
  }

  /** The items above `afterId` (all when `null`), least id first. */
  *ascending(afterId: string | null): Generator<T> {
    const chunks = this.chunks;
    let c = 0;
    let at = 0;
    if (afterId !== null) {
      c = this.chunkFor(afterId);
      if (c === chunks.length) return;
      const chunk = chunks[c]!;
      at = lowerBound(chunk, afterId);
      if (chunk[at]!.id === afterId) at++;
    }
    for (; c < chunks.length; c++, at = 0) {
      const chunk = chunks[c]!;
      for (; at < chunk.length; at++) yield chunk[at]!;
    }
  }

  /** The items below `beforeId` (all when `null`), greatest id first. */
  *descending(beforeId: string | null): Generator<T> {
    const chunks = this.chunks;
    let c = beforeId === null ? chunks.length : this.chunkFor(beforeId);
    let at: number;
    if (c === chunks.length) {
      c--;
      at = (chunks[c]?.length ?? 0) - 1;
    } else {
      at = lowerBound(chunks[c]!, beforeId!) - 1;
    }
    for (; c >= 0; c--, at = (chunks[c]?.length ?? 0) - 1) {
      const chunk = chunks[c]!;
      for (; at >= 0; at--) yield chunk[at]!;
    }
  }

  /** The first chunk whose last id is ≥ `id`; the number of chunks when none is. */
  private chunkFor(id: string): number {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = chunks[mid]!;
      if (chunk[chunk.length - 1]!.id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** After chunk `at` shrank: drops it when empty, else merges it with a neighbour it fits with. */
  private repack(at: number): void {
    if (this.chunks[at]!.length === 0) {
      this.chunks.splice(at, 1);
      // Its two neighbours are neighbours now.
      this.mergeIfFits(at - 1);
      return;
    }
    this.mergeIfFits(at);
    this.mergeIfFits(at - 1);
  }

  /** Merges chunks `at` and `at + 1` when they fit in one. */
  private mergeIfFits(at: number): void {
    const left = this.chunks[at];
    const right = this.chunks[at + 1];
    if (left === undefined || right === undefined || left.length + right.length > maxChunk) return;
    this.chunks.splice(at, 2, left.concat(right));
  }
}
