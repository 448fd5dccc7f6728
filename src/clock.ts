/**
 * Time, injected. Every wait the library makes (retry schedules, polling, drain) goes
 * through a {@link Clock}, so that a test of a 30-minute backoff takes milliseconds.
 * HTTP timeouts are the one exception: they bound real sockets and use real timers.
 */

/** A handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** A source of time and timers. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `callback` once `ms` milliseconds have passed on this clock. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The wall clock. Its timers keep the process alive, as a started dispatcher should:
 * a worker process that only dispatches must not exit while retries are scheduled.
 * `stop()` clears them.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    return setTimeout(callback, ms);
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/**
 * `clock` with `now()` in whole milliseconds. Storages keep times as integers (PostgreSQL binds
 * them as `bigint` and refuses 1.5), and an injected clock may answer fractions — e.g.
 * `performance.timeOrigin + performance.now()`: its times are floored, its timers untouched.
 */
export function wholeMsClock(clock: Clock): Clock {
  if (clock === systemClock) return clock;
  return {
    now: () => Math.floor(clock.now()),
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms),
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}
