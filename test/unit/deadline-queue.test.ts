import { afterEach, describe, expect, it } from 'vitest';
import { DeadlineQueue, Expiring } from '../../src/delivery/deadline-queue.js';

/** An entry that records when it expired, relative to `origin`. */
class Probe extends Expiring {
  expiredAfterMs: number | null = null;
  constructor(
    readonly name: string,
    private readonly origin: number,
    private readonly log: string[],
  ) {
    super();
  }
  expire(): void {
    this.expiredAfterMs = performance.now() - this.origin;
    this.log.push(this.name);
  }
}

const queues: DeadlineQueue[] = [];
afterEach(() => queues.splice(0).forEach((queue) => queue.close()));

function setup() {
  const queue = new DeadlineQueue();
  queues.push(queue);
  const origin = performance.now();
  const log: string[] = [];
  return { queue, log, probe: (name: string) => new Probe(name, origin, log) };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('DeadlineQueue', () => {
  it('expires each entry at its own deadline, earliest first, across timeout values, and never one removed in time', async () => {
    const { queue, log, probe } = setup();
    const slow = probe('slow-80');
    const fast = probe('fast-20');
    const removed = probe('fast-20-removed');
    const later = probe('fast-20-later');
    // The longer timeout first: the shorter one after it must bring the timer forward.
    queue.add(slow, 80);
    queue.add(fast, 20);
    queue.add(removed, 20);
    queue.add(later, 20);
    queue.remove(removed);
    // Removing an entry twice, or one never added, is harmless.
    queue.remove(removed);
    queue.remove(probe('never-added'));
    await wait(150);
    expect(log).toEqual(['fast-20', 'fast-20-later', 'slow-80']);
    expect(fast.expiredAfterMs).toBeGreaterThanOrEqual(20);
    expect(slow.expiredAfterMs).toBeGreaterThanOrEqual(80);
    expect(removed.expiredAfterMs).toBeNull();
  });

  it('expires entries added after the queue went idle', async () => {
    const { queue, log, probe } = setup();
    queue.add(probe('first'), 10);
    await wait(40);
    queue.add(probe('second'), 10);
    await wait(40);
    expect(log).toEqual(['first', 'second']);
  });

  it('expires nothing after close()', async () => {
    const { queue, log, probe } = setup();
    queue.add(probe('queued'), 10);
    queue.close();
    await wait(50);
    expect(log).toEqual([]);
  });
});
