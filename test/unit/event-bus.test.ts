/**
 * The bus isolates its listeners from each other and from the emitter: a listener that
 * throws, or whose promise rejects, is reported to `onListenerError` and the rest still run.
 */
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/index.js';
import { flush } from '../support/fake-clock.js';

function listeningBus() {
  const bus = new EventBus();
  const errors: Array<{ error: unknown; name: string }> = [];
  bus.onListenerError = (error, name) => errors.push({ error, name });
  return { bus, errors };
}

const payload = { id: 'evt_1', type: 'thing.happened' as const, timestamp: '2026-11-26T12:00:00.000Z', metadata: null, orderingKey: null, data: { n: 1 }, idempotencyKey: null, tenantId: null };

describe('EventBus.safeEmit', () => {
  it('calls every listener after one that throws, and reports the exception', () => {
    const { bus, errors } = listeningBus();
    const boom = new Error('listener failed');
    const seen: string[] = [];
    bus.on('thing.happened', () => seen.push('first'));
    bus.on('thing.happened', () => {
      throw boom;
    });
    bus.on('thing.happened', () => seen.push('third'));
    bus.on('thing.happened', () => seen.push('fourth'));
    expect(() => bus.safeEmit('thing.happened', payload)).not.toThrow();
    expect(seen).toEqual(['first', 'third', 'fourth']);
    expect(errors).toEqual([{ error: boom, name: 'thing.happened' }]);
  });

  it('reports the exception of a lone listener', () => {
    const { bus, errors } = listeningBus();
    const boom = new Error('alone');
    bus.on('thing.happened', () => {
      throw boom;
    });
    bus.safeEmit('thing.happened', payload);
    expect(errors).toEqual([{ error: boom, name: 'thing.happened' }]);
  });

  it("reports an async listener's rejection instead of leaving it unhandled, and runs the listeners after it", async () => {
    const { bus, errors } = listeningBus();
    const boom = new Error('async listener failed');
    let after = 0;
    bus.on('thing.happened', async () => {
      await Promise.resolve();
      throw boom;
    });
    bus.on('thing.happened', () => {
      after += 1;
    });
    bus.safeEmit('thing.happened', payload);
    await flush();
    expect(after).toBe(1);
    expect(errors).toEqual([{ error: boom, name: 'thing.happened' }]);
  });

  it('keeps eventemitter3 semantics: once listeners fire once, a context is honoured, listeners added during the emit wait for the next', () => {
    const { bus, errors } = listeningBus();
    const calls: string[] = [];
    bus.once('thing.happened', () => {
      calls.push('once');
      throw new Error('once and throwing');
    });
    const owner = { name: 'owner' };
    bus.on(
      'thing.happened',
      function (this: typeof owner) {
        calls.push(this.name);
        bus.on('thing.happened', () => calls.push('late'));
      },
      owner,
    );
    bus.safeEmit('thing.happened', payload);
    expect(calls).toEqual(['once', 'owner']);
    expect(errors).toHaveLength(1);
    calls.length = 0;
    bus.safeEmit('thing.happened', payload);
    expect(calls).toEqual(['owner', 'late']);
    expect(errors).toHaveLength(1);
  });

  it('survives an onListenerError that throws itself', () => {
    const bus = new EventBus();
    bus.onListenerError = () => {
      throw new Error('the reporter failed too');
    };
    let after = 0;
    bus.on('thing.happened', () => {
      throw new Error('listener failed');
    });
    bus.on('thing.happened', () => {
      after += 1;
    });
    expect(() => bus.safeEmit('thing.happened', payload)).not.toThrow();
    expect(after).toBe(1);
  });
});
