/**
 * Counting lifecycle events and waiting on the wall clock for a condition: for tests whose
 * posts are real loopback I/O (the backoff itself runs on an injected clock).
 */
import type { LifecycleEvents, Webhooks } from '../../src/index.js';

/** A counter of `name` events on the instance's bus, read as `.value`. */
export function countBusEvents(webhooks: Webhooks, name: keyof LifecycleEvents): { value: number } {
  const counter = { value: 0 };
  webhooks.bus.on(name, () => (counter.value += 1));
  return counter;
}

/** Polls `condition` every 10 ms on the wall clock; rejects after `timeoutMs`. */
export async function pollUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
