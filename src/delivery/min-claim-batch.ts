/**
 * The fewest deliveries a busy dispatcher claims at once.
 *
 * Why: a claim's fixed cost (a transaction on a durable storage) is then shared by a whole
 * `concurrency` of deliveries; bench/README gives the figure.
 */
export function minClaimBatch(concurrency: number): number {
  return concurrency;
}
