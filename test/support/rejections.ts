/**
 * What a call threw or a promise rejected with, for tests that assert on the error itself
 * (its class, `code`, `field`): fails the test when nothing was thrown.
 */
import { expect } from 'vitest';
import { ConfigError } from '../../src/index.js';

export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return expect.fail('expected the call to reject');
}

export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.fail('expected the call to throw');
}

/** The `ConfigError` a call threw; any other error is thrown on, and nothing thrown fails the test. */
export function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  return expect.fail('expected a ConfigError, nothing was thrown');
}
