/**
 * Values crossing between the dispatcher's worker thread and the host (structured clone):
 * the library's errors arrive as the same classes with their codes, other errors with
 * their name, message, stack and cause, and what cannot be cloned is named, not lost.
 */
import { describe, expect, it } from 'vitest';
import { isWebhookError, StorageError } from '../../src/errors.js';
import { fromWire, toWire } from '../../src/delivery/worker/wire-values.js';

/** As postMessage carries it. */
const across = (value: unknown) => fromWire(structuredClone(toWire(value)));

describe('values across the worker boundary', () => {
  it('rebuilds a StorageError as a StorageError with its code, retryable, message, stack and cause', () => {
    const cause = new Error('SQLITE_BUSY: database is locked');
    const original = new StorageError('STORAGE_BUSY', 'SQLite storage: claimDue: the database is locked', { retryable: true, cause });
    const { err } = across({ err: original, count: 3 }) as { err: StorageError };
    expect(err).toBeInstanceOf(StorageError);
    expect(isWebhookError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'STORAGE_BUSY', retryable: true, message: original.message, name: 'StorageError' });
    expect(err.stack).toBe(original.stack);
    expect(err.cause).toBeInstanceOf(Error);
    expect((err.cause as Error).message).toBe(cause.message);
  });

  it('keeps another error its name and own fields, and names a function instead of failing the message', () => {
    const error = Object.assign(new TypeError('fetch failed'), { code: 'ECONNRESET', retry: () => 1 });
    const { err, at, hook } = across({ err: error, at: new Date(0), hook: function onRetry() {} }) as { err: Error & { code: string; retry: unknown }; at: Date; hook: unknown };
    expect(err).toBeInstanceOf(Error);
    expect(isWebhookError(err)).toBe(false);
    expect(err).toMatchObject({ name: 'TypeError', message: 'fetch failed', code: 'ECONNRESET', retry: '[function retry]' });
    expect(at).toEqual(new Date(0));
    expect(hook).toBe('[function onRetry]');
  });

  it('carries plain lifecycle payloads unchanged', () => {
    const payload = { deliveryId: 'dlv_1', eventId: 'evt_1', tenantId: null, attempt: 2, statusCode: 204, change: { before: { headers: ['a'] }, after: null } };
    expect(across(payload)).toEqual(payload);
  });
});
