/**
 * Sequences kept sorted by id: the order of the subscription list, of the delivery log and
 * of the events (ids are time-sortable, so id order is creation order). Sorted arrays (the
 * subscriptions; the large orders are chunked-id-list.ts's), the walks both ways from an
 * id, and the newest-first merge of several sequences (a tenant's deliveries are those of
 * its subscriptions).
 */

/** Orders two records by id, for `Array.prototype.sort`. */
export function compareIds(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** First index whose id is ≥ `id` in an array sorted by id. */
export function lowerBound(sorted: ReadonlyArray<{ id: string }>, id: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts in id order. Ids are made in time order, so this is an append in all but odd cases. */
export function insertById<T extends { id: string }>(sorted: T[], item: T): void {
  const last = sorted[sorted.length - 1];
  if (last === undefined || last.id < item.id) sorted.push(item);
  else sorted.splice(lowerBound(sorted, item.id), 0, item);
}

/** A sequence sorted by id that can be walked both ways from an id: {@link ChunkedIdList}, or a sorted array through {@link sortedArray}. */
export interface IdOrder<T> {
  /** The items above `afterId` (all when `null`), least id first. */
  ascending(afterId: string | null): IterableIterator<T>;
  /** The items below `beforeId` (all when `null`), greatest id first. */
  descending(beforeId: string | null): IterableIterator<T>;
}

/** An array sorted by id, as an {@link IdOrder} (it is read, not copied). */
export function sortedArray<T extends { id: string }>(sorted: ReadonlyArray<T>): IdOrder<T> {
  return {
    *ascending(afterId) {
      let at = afterId === null ? 0 : lowerBound(sorted, afterId);
      if (afterId !== null && sorted[at]?.id === afterId) at++;
      for (; at < sorted.length; at++) yield sorted[at]!;
    },
    *descending(beforeId) {
      for (let at = (beforeId === null ? sorted.length : lowerBound(sorted, beforeId)) - 1; at >= 0; at--) yield sorted[at]!;
    },
  };
}

/** The next item of one of the sequences {@link newestFirst} merges, and the rest of it. */
interface MergeHead<T> {
  readonly rest: Iterator<T>;
  item: T;
}

function siftDown<T extends { id: string }>(heap: Array<MergeHead<T>>, from: number): void {
  const idAt = (i: number): string => heap[i]!.item.id;
  for (let i = from; ; ) {
    const left = 2 * i + 1;
    const right = left + 1;
    let top = i;
    if (left < heap.length && idAt(left) > idAt(top)) top = left;
    if (right < heap.length && idAt(right) > idAt(top)) top = right;
    if (top === i) return;
    [heap[i], heap[top]] = [heap[top]!, heap[i]!];
    i = top;
  }
}

/**
 * The items of sequences sorted by id, merged newest (greatest id) first, and only those
 * below `beforeId` when given (a cursor): a heap of the sequences' heads, so that the next
 * item costs O(log sequences) whatever their lengths, and a sequence with nothing to give
 * costs one search.
 */
export function* newestFirst<T extends { id: string }>(sources: Iterable<IdOrder<T>>, beforeId: string | null): Generator<T> {
  const heap: Array<MergeHead<T>> = [];
  for (const source of sources) {
    const rest = source.descending(beforeId);
    const first = rest.next();
    if (first.done !== true) heap.push({ rest, item: first.value });
  }
  for (let i = (heap.length >>> 1) - 1; i >= 0; i--) siftDown(heap, i);
  while (heap.length > 0) {
    const head = heap[0]!;
    yield head.item;
    const next = head.rest.next();
    if (next.done === true) {
      const last = heap.pop()!;
      if (heap.length === 0) return;
      heap[0] = last;
    } else {
      head.item = next.value;
    }
    siftDown(heap, 0);
  }
}
