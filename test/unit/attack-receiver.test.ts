/**
 * `pullMissed`'s deadline as an option: refused with a code when it is not a whole number of ms,
 * and handed to an injected `fetch` as its `signal`, so that a fetch of the host's own aborts too;
 * a `next` that goes back to a cursor of the same walk ends it, however long the circle.
 */
import { describe, expect, it } from 'vitest';
import { generateSecret } from '../../src/index.js';
import { pullMissed, type PullMissedOptions } from '../../src/receiver/index.js';

const secret = generateSecret();
const feedUrl = 'https://bookkeeper.example/webhooks/feed/events';

function pages(answer: (after: string | null, signal: AbortSignal | undefined) => unknown) {
  const requests: Array<{ after: string | null; signal: AbortSignal | undefined }> = [];
  const fetch = async (url: string, init: RequestInit) => {
    const after = new URL(url).searchParams.get('after');
    requests.push({ after, signal: init.signal ?? undefined });
    if (requests.length > 100) throw new Error('walked for ever');
    return new Response(JSON.stringify(answer(after, init.signal ?? undefined)), { status: 200 });
  };
  return { fetch, requests };
}

const base = (fetch: PullMissedOptions['fetch']) => ({ feedUrl, subscriptionId: 'sub_1', secret, fetch, onEvent: () => undefined });

describe('pullMissed against a feed that misbehaves', () => {
  it('takes a timeoutMs in whole ms, and refuses any other with CONFIG_INVALID before any request', async () => {
    const { fetch, requests } = pages(() => ({ data: [], next: null, hasMore: false }));
    for (const timeoutMs of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1000']) {
      await expect(pullMissed({ ...base(fetch), timeoutMs } as unknown as PullMissedOptions)).rejects.toMatchObject({
        name: 'ConfigError',
        code: 'CONFIG_INVALID',
        field: 'timeoutMs',
      });
    }
    expect(requests).toHaveLength(0);
    // The same option, a whole number, is taken.
    await expect(pullMissed({ ...base(fetch), timeoutMs: 1_000 })).resolves.toMatchObject({ next: null });
    expect(requests).toHaveLength(1);
  });

  it('hands an injected fetch the deadline as its signal, not yet aborted', async () => {
    const { fetch, requests } = pages(() => ({ data: [], next: null, hasMore: false }));
    await pullMissed({ ...base(fetch), timeoutMs: 60_000 });
    expect(requests).toHaveLength(1);
    expect(requests[0]!.signal).toBeInstanceOf(AbortSignal);
    expect(requests[0]!.signal!.aborted).toBe(false);
  });

  it('ends a walk whose next comes back to a cursor it stood at, a circle of any length, with the last new cursor', async () => {
    // c1 → c2 → c3 → c4 → c2 → …, always "more", never anything in it.
    const circle: Record<string, string> = { c1: 'c2', c2: 'c3', c3: 'c4', c4: 'c2' };
    const { fetch, requests } = pages((after) => ({ data: [], next: circle[after ?? ''] ?? 'c1', hasMore: true }));
    expect(await pullMissed({ ...base(fetch), after: 'c1' })).toMatchObject({ processed: 0, next: 'c4' });
    expect(requests.map((request) => request.after)).toEqual(['c1', 'c2', 'c3', 'c4']);
    // A next equal to the cursor asked with (a feed that does not move) ends it at once, as before.
    const still = pages(() => ({ data: [], next: 'c7', hasMore: true }));
    expect(await pullMissed({ ...base(still.fetch), after: 'c7' })).toMatchObject({ next: 'c7' });
    expect(still.requests).toHaveLength(1);
  });
});
