/**
 * The memory storage's claim order structures against a plain sort, on arbitrary pushes,
 * pops and retains: the stamped heap and the claim queue (a sorted run beside the heap).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClaimQueue } from '../../src/storage/memory/claim-queue.js';
import { StampedHeap } from '../../src/storage/memory/stamped-heap.js';
import { propertyRuns } from '../support/property-runs.js';

describe('StampedHeap', () => {
  it('pops in (key, tie) order with each entry\'s ref and stamp, and counts every pop', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 50 })), { maxLength: 200 }), (pairs) => {
        const counter = { pops: 0 };
        const heap = new StampedHeap<number>(counter);
        pairs.forEach(([key, tie], i) => heap.push(key, `t${String(tie).padStart(2, '0')}`, i, i * 10));
        const expected = pairs
          .map(([key, tie], i) => ({ key, tie: `t${String(tie).padStart(2, '0')}`, ref: i }))
          .sort((a, b) => a.key - b.key || (a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0));
        const got: Array<{ key: number; tie: string }> = [];
        while (heap.size > 0) {
          const ref = heap.topRef();
          expect(heap.topStamp()).toBe(ref * 10);
          expect([heap.topKey(), heap.topTie()]).toEqual([pairs[ref]![0], `t${String(pairs[ref]![1]).padStart(2, '0')}`]);
          got.push({ key: heap.topKey(), tie: heap.topTie() });
          heap.pop();
        }
        expect(got).toEqual(expected.map(({ key, tie }) => ({ key, tie })));
        expect(counter.pops).toBe(pairs.length);
      }),
      { numRuns: propertyRuns(300) },
    );
  });
});

describe('ClaimQueue (a sorted run beside a heap)', () => {
  it('pops exactly in (key, tie) order whatever is pushed in order or not, interleaved with pops and retains', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), key: fc.integer({ min: 0, max: 20 }), tie: fc.integer({ min: 0, max: 30 }), inOrder: fc.boolean() }),
      fc.record({ kind: fc.constant('pop' as const) }),
      fc.record({ kind: fc.constant('retain' as const), modulo: fc.integer({ min: 2, max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 300, size: 'max' }), (ops) => {
        const counter = { pops: 0 };
        const queue = new ClaimQueue<number>(counter);
        let reference: Array<{ key: number; tie: string; ref: number }> = [];
        let next = 0;
        const order = (a: { key: number; tie: string }, b: { key: number; tie: string }) => a.key - b.key || (a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0);
        for (const o of ops) {
          if (o.kind === 'push') {
            const entry = { key: o.key, tie: `dlv_${String(o.tie).padStart(3, '0')}`, ref: next++ };
            queue.push(entry.key, entry.tie, entry.ref, 0, o.inOrder);
            reference.push(entry);
          } else if (o.kind === 'pop') {
            if (reference.length === 0) continue;
            reference.sort(order);
            const expected = reference.shift()!;
            // Equal (key, tie) pairs may come out in either order: compare what identifies the position.
            expect([queue.topKey(), queue.size]).toEqual([expected.key, reference.length + 1]);
            const got = queue.topRef();
            const gotEntry = { key: queue.topKey(), ref: got };
            queue.pop();
            if (got !== expected.ref) {
              // A tie: swap the reference's choice for the queue's among the equal entries.
              const index = reference.findIndex((e) => e.ref === got);
              expect(index).toBeGreaterThanOrEqual(0);
              expect(order(reference[index]!, expected)).toBe(0);
              reference[index] = expected;
            }
            expect(gotEntry.key).toBe(expected.key);
          } else {
            queue.retain((ref) => ref % o.modulo !== 0);
            reference = reference.filter((e) => e.ref % o.modulo !== 0);
          }
          expect(queue.size).toBe(reference.length);
        }
        reference.sort(order);
        for (const expected of reference) {
          expect(queue.topKey()).toBe(expected.key);
          queue.pop();
        }
        expect(queue.size).toBe(0);
      }),
      { numRuns: propertyRuns(500) },
    );
  });
});
