import { afterEach } from 'vitest';

/**
 * A list of clean-ups for the calling test file, run after each test, last first (an
 * instance closes before the receiver it posts to). Call it once at the top of the file.
 */
export function registerCleanups(): Array<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}
