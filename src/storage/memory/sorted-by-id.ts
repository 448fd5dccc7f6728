/**
 * Arrays kept sorted by id: the order of the subscription list and of the delivery log
 * (ids are time-sortable, so id order is creation order).
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
