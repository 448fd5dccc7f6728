/**
 * `EventBus.watchListeners`: told after every listener added or removed, through each of
 * eventemitter3's methods and aliases, and when an emit removes a `once` listener.
 */
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/events/event-bus.js';

describe('EventBus.watchListeners', () => {
  it('is told after each change of the listeners, by every method that makes one, and eventNames() is current then', () => {
    const bus = new EventBus();
    const seen: string[][] = [];
    const stop = bus.watchListeners(() => seen.push(bus.eventNames().map(String).sort()));
    const listener = (): void => undefined;
    bus.on('delivery:succeeded', listener);
    bus.addListener('delivery:failed', listener);
    bus.once('delivery:dead', listener);
    bus.off('delivery:failed', listener);
    bus.removeListener('delivery:succeeded', listener);
    expect(seen).toEqual([
      ['delivery:succeeded'],
      ['delivery:failed', 'delivery:succeeded'],
      ['delivery:dead', 'delivery:failed', 'delivery:succeeded'],
      ['delivery:dead', 'delivery:succeeded'],
      ['delivery:dead'],
    ]);
    // An emit that runs a `once` listener removes it.
    bus.safeEmit('delivery:dead', {} as never);
    expect(seen.at(-1)).toEqual([]);
    bus.on('delivery:succeeded', listener);
    bus.removeAllListeners();
    expect(seen.slice(-2)).toEqual([['delivery:succeeded'], []]);
    stop();
    bus.on('delivery:succeeded', listener);
    expect(seen).toHaveLength(8);
  });

  it('leaves the listeners working as before: typed payloads reach them in order', () => {
    const bus = new EventBus();
    bus.watchListeners(() => undefined);
    const got: number[] = [];
    bus.on('delivery:succeeded', (event) => void got.push(event.attempt));
    bus.once('delivery:succeeded', (event) => void got.push(event.attempt * 10));
    bus.safeEmit('delivery:succeeded', { attempt: 1 } as never);
    bus.safeEmit('delivery:succeeded', { attempt: 2 } as never);
    expect(got).toEqual([1, 10, 2]);
  });
});
