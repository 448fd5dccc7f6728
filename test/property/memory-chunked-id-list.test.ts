/**
 * The memory storage's chunked id list against a plain sorted array, on arbitrary inserts
 * (appended, out of order, runs long enough to fill many chunks), batch removals, and walks
 * both ways from ids present or not; and the bound on its chunks that the merge rule keeps.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkedIdList } from '../../src/storage/memory/chunked-id-list.js';
import { propertyRuns } from '../support/property-runs.js';

interface Item {
  id: string;
}

const idOf = (n: number): string => `id_${String(n).padStart(6, '0')}`;

describe('ChunkedIdList', () => {
  it('holds, walks and removes exactly what a sorted array would, in fewer than 2n/512 + 1 chunks', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), n: fc.integer({ min: 0, max: 4000 }) }),
      // A run of ascending ids above every one so far: appends, as the storage mostly sees.
      fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 1500 }) }),
      // A run of ids anywhere (between existing ones): inserts in the middle, splitting chunks.
      fc.record({ kind: fc.constant('spread' as const), from: fc.integer({ min: 0, max: 4000 }), count: fc.integer({ min: 1, max: 700 }) }),
      fc.record({ kind: fc.constant('remove' as const), modulo: fc.integer({ min: 1, max: 5 }), rest: fc.integer({ min: 0, max: 4 }), from: fc.integer({ min: 0, max: 10_000 }), span: fc.integer({ min: 0, max: 10_000 }) }),
      fc.record({ kind: fc.constant('walk' as const), at: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: null }), n: fc.integer({ min: 1, max: 600 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
        const list = new ChunkedIdList<Item>();
        const byId = new Map<string, Item>();
        let top = 4000;
        const add = (n: number): void => {
          const id = idOf(n);
          if (byId.has(id)) return;
          const item = { id };
          byId.set(id, item);
          list.insert(item);
        };
        const sorted = (): Item[] => [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
        for (const o of ops) {
          if (o.kind === 'insert') {
            add(o.n);
          } else if (o.kind === 'append') {
            for (let i = 0; i < o.count; i++) add(++top);
          } else if (o.kind === 'spread') {
            // Odd numbers between the even ones a previous spread may have left.
            for (let i = 0; i < o.count; i++) add(o.from + 2 * i + (i % 3 === 0 ? 1 : 0));
          } else if (o.kind === 'remove') {
            // Every `modulo`-th item of a span of positions: contiguous blocks and scattered ones.
            const all = sorted();
            const doomed = all.slice(o.from % (all.length + 1), (o.from % (all.length + 1)) + o.span).filter((_, i) => i % o.modulo === o.rest % o.modulo);
            // An item the list does not hold is ignored.
            list.removeAll([...doomed, { id: idOf(99_999) }]);
            for (const item of doomed) byId.delete(item.id);
          } else {
            const all = sorted();
            const id = o.at === null ? null : idOf(o.at);
            const after = id === null ? all : all.filter((item) => item.id > id);
            const before = id === null ? all : all.filter((item) => item.id < id);
            expect(take(list.ascending(id), o.n)).toEqual(after.slice(0, o.n));
            expect(take(list.descending(id), o.n)).toEqual([...before].reverse().slice(0, o.n));
            expect(list.first(o.n)).toEqual(all.slice(0, o.n));
          }
          expect(list.size).toBe(byId.size);
          expect(list.chunkCount).toBeLessThan((2 * list.size) / 512 + 1 + 1e-9);
        }
        // Every item, by identity, in order.
        const items = [...list];
        const expected = sorted();
        expect(items).toHaveLength(expected.length);
        items.forEach((item, i) => expect(item).toBe(expected[i]));
      }),
      { numRuns: propertyRuns(300) },
    );
  });
});

function take<T>(walk: Iterator<T>, n: number): T[] {
  const items: T[] = [];
  for (let next = walk.next(); next.done !== true && items.length < n; next = walk.next()) items.push(next.value);
  return items;
}
