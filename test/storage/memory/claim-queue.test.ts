/**
 * The memory storage's claim order structures alone, by example: the stamped heap's retain
 * and the claim queue's in-order run (their order against a plain sort is a property, in
 * test/property/memory-claim-queue.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { ClaimQueue } from '../../../src/storage/memory/claim-queue.js';
import { StampedHeap } from '../../../src/storage/memory/stamped-heap.js';

describe('StampedHeap', () => {
  it('keeps only the entries retain accepts, by ref and stamp, still in order', () => {
    const heap = new StampedHeap<number>({ pops: 0 });
    for (let i = 0; i < 1_000; i++) heap.push((i * 7919) % 1_000, `t${String(i).padStart(4, '0')}`, i, i % 3);
    heap.retain((ref, stamp) => ref % 2 === 0 && stamp !== 0);
    const keys: number[] = [];
    while (heap.size > 0) {
      const ref = heap.topRef();
      expect(ref % 2 === 0 && ref % 3 !== 0).toBe(true);
      keys.push(heap.topKey());
      heap.pop();
    }
    expect(keys).toHaveLength(333);
    expect(keys).toEqual(keys.slice().sort((a, b) => a - b));
  });
});

describe('ClaimQueue (a sorted run beside a heap)', () => {
  it("serves fresh deliveries pushed in order in that order, and a retry due before the run's tail first", () => {
    const counter = { pops: 0 };
    const queue = new ClaimQueue<number>(counter);
    for (let i = 0; i < 10_000; i++) queue.push(1_000 + Math.floor(i / 7), `dlv_${String(i).padStart(6, '0')}`, i, 0, true);
    // A retry due earlier than the run's tail goes to the heap and still comes out first.
    queue.push(1_000, 'dlv_', -1, 0, false);
    expect(queue.topRef()).toBe(-1);
    queue.pop();
    for (let i = 0; i < 10_000; i++) {
      expect(queue.topRef()).toBe(i);
      queue.pop();
    }
    expect(counter.pops).toBe(10_001);
    expect(queue.size).toBe(0);
  });
});
