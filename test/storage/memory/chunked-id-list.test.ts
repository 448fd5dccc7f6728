/**
 * The chunked id list's bound on its chunks (fewer than 2n / maxChunk + 1, since two
 * neighbours never both fit in one) in the patterns that would break it without the merges:
 * removals that leave a chunk nearly empty, and inserts that split a full chunk beside a
 * nearly empty one. What it holds and walks, against a sorted array, is a property in
 * test/property/memory-chunked-id-list.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ChunkedIdList, maxChunk } from '../../../src/storage/memory/chunked-id-list.js';

const idOf = (n: number): string => `id_${String(n).padStart(7, '0')}`;

/** A list of `chunks` full chunks: ids 10, 20, … (room between them for inserts). */
function fullChunks(chunks: number): { list: ChunkedIdList<{ id: string }>; items: Array<{ id: string }> } {
  const list = new ChunkedIdList<{ id: string }>();
  const items = Array.from({ length: chunks * maxChunk }, (_, i) => ({ id: idOf(10 * (i + 1)) }));
  for (const item of items) list.insert(item);
  expect(list.chunkCount).toBe(chunks);
  return { list, items };
}

function expectChunkBound(list: ChunkedIdList<{ id: string }>): void {
  expect(list.chunkCount).toBeLessThan((2 * list.size) / maxChunk + 1);
}

describe('ChunkedIdList', () => {
  it('merges the chunks a removal leaves nearly empty with their neighbours', () => {
    const { list, items } = fullChunks(40);
    // All but one item of every chunk.
    list.removeAll(items.filter((_, i) => i % maxChunk !== 0));
    expect(list.size).toBe(40);
    expect(list.chunkCount).toBe(1);
    expect([...list]).toEqual(items.filter((_, i) => i % maxChunk === 0));
  });

  it('merges a chunk left nearly empty with a neighbour when the chunk between them empties', () => {
    const { list, items } = fullChunks(3);
    // The first and last chunks down to one item each (each too small beside the full middle one)…
    list.removeAll(items.filter((_, i) => i % maxChunk !== 0 && (i < maxChunk || i >= 2 * maxChunk)));
    expect(list.chunkCount).toBe(3);
    // …then the middle one goes whole, leaving them side by side.
    list.removeAll(items.slice(maxChunk, 2 * maxChunk));
    expect(list.size).toBe(2);
    expect(list.chunkCount).toBe(1);
  });

  it('merges the halves of a split chunk with nearly empty neighbours', () => {
    const { list, items } = fullChunks(60);
    // Every other chunk down to one item: small, full, small, full, …
    list.removeAll(items.filter((_, i) => Math.floor(i / maxChunk) % 2 === 0 && i % maxChunk !== 0));
    expectChunkBound(list);
    // One insert in the middle of each full chunk splits it in two halves, each beside a small chunk.
    for (let c = 1; c < 60; c += 2) list.insert({ id: idOf(10 * (c * maxChunk + maxChunk / 2) + 5) });
    expectChunkBound(list);
    const ids = [...list].map((item) => item.id);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toHaveLength(list.size);
  });
});
