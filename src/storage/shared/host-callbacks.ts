/**
 * What a callback of the core that an adapter calls inside its transaction (`matchesFilter`,
 * `render`) throws reaches the adapter's caller unchanged. On its way it crosses the
 * adapter's driver-error mapping and busy retries, which would turn it into a `StorageError`
 * or run it again: it travels wrapped in a {@link HostCallbackFailure}, which neither maps
 * nor retries, and the adapter unwraps it with {@link thrownByHostCallback} at its public
 * boundary, after its transaction rolled back.
 */

/** What a core callback threw, carried through the adapter to its caller. */
export class HostCallbackFailure extends Error {
  /** The callback's own error, rethrown as it was. */
  readonly thrown: unknown;
  constructor(thrown: unknown) {
    super('A storage callback of the core threw');
    this.name = 'HostCallbackFailure';
    this.thrown = thrown;
  }
}

/** What the adapter's caller gets: the callback's own error for a {@link HostCallbackFailure}, `error` otherwise. */
export function thrownByHostCallback(error: unknown): unknown {
  return error instanceof HostCallbackFailure ? error.thrown : error;
}

/** Calls a core callback, wrapping what it throws in a {@link HostCallbackFailure}. */
export function callHost<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw new HostCallbackFailure(error);
  }
}
