/**
 * Arrays kept sorted by id: the order of the subscription list, of the delivery log and of
 * the events (ids are time-sortable, so id order is creation order), the oldest-first walk
 * of one, and the newest-first merge of several (a tenant's deliveries are those of its
 * subscriptions).
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

/** The items of an array sorted by id, oldest (least id) first, and only those above `afterId` when given (a cursor). */
export function* oldestFirst<T extends { id: string }>(sorted: ReadonlyArray<T>, afterId: string | null): Generator<T> {
  let at = afterId === null ? 0 : lowerBound(sorted, afterId);
  if (afterId !== null && sorted[at]?.id === afterId) at++;
  for (; at < sorted.length; at++) yield sorted[at]!;
}

/** A read position in one of the arrays {@link newestFirst} merges. */
interface MergeHead<T> {
  readonly source: ReadonlyArray<T>;
  at: number;
}

function siftDown<T extends { id: string }>(heap: Array<MergeHead<T>>, from: number): void {
  const idAt = (i: number): string => heap[i]!.source[heap[i]!.at]!.id;
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
 * The items of arrays sorted by id, merged newest (greatest id) first, and only those below
 * `beforeId` when given (a cursor): a heap of the arrays' heads, so that the next item costs
 * O(log arrays) whatever their lengths, and an array with nothing to give costs one search.
 */
export function* newestFirst<T extends { id: string }>(sources: Iterable<ReadonlyArray<T>>, beforeId: string | null): Generator<T> {
  const heap: Array<MergeHead<T>> = [];
  for (const source of sources) {
    const at = (beforeId === null ? source.length : lowerBound(source, beforeId)) - 1;
    if (at >= 0) heap.push({ source, at });
  }
  for (let i = (heap.length >>> 1) - 1; i >= 0; i--) siftDown(heap, i);
  while (heap.length > 0) {
    const head = heap[0]!;
    yield head.source[head.at]!;
    head.at--;
    if (head.at < 0) {
      const last = heap.pop()!;
      if (heap.length === 0) return;
      heap[0] = last;
    }
    siftDown(heap, 0);
  }
}
