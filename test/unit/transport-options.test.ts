// The transport factories refuse bad options with a coded ConfigError naming the field, as
// createWebhooks does, before anything is opened.
import { lookup } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { createFetchTransport, createUndiciTransport, ConfigError } from '../../src/index.js';
import { thrownBy } from '../support/rejections.js';

describe('createUndiciTransport options', () => {
  it.each([
    ['connectionsPerOrigin', { connectionsPerOrigin: 0 }],
    ['connectionsPerOrigin', { connectionsPerOrigin: 1.5 }],
    ['connectionsPerOrigin', { connectionsPerOrigin: '50' }],
    ['keepAliveTimeoutMs', { keepAliveTimeoutMs: -1 }],
    ['keepAliveTimeoutMs', { keepAliveTimeoutMs: Number.NaN }],
    ['lookup', { lookup: 'dns.lookup' }],
    ['connectionsPerOrgin', { connectionsPerOrgin: 5 }],
  ])('refuses a bad `%s` with CONFIG_INVALID on that field', (field, options) => {
    const error = thrownBy(() => createUndiciTransport(options as never));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field });
    expect((error as Error).message).toContain(`\`${field}\``);
  });

  it('names the key it did not expect and the one it probably meant', () => {
    expect(thrownBy(() => createUndiciTransport({ connectionsPerOrgin: 5 } as never))).toMatchObject({
      message: expect.stringContaining('did you mean `connectionsPerOrigin`'),
    });
  });

  it('refuses a second positional argument', () => {
    expect(thrownBy(() => (createUndiciTransport as (...args: unknown[]) => unknown)({}, { connectionsPerOrigin: 1 }))).toMatchObject({
      code: 'CONFIG_INVALID',
    });
  });

  it('accepts no options, and every option in range', async () => {
    await createUndiciTransport().close?.();
    await createUndiciTransport({ connectionsPerOrigin: 1, keepAliveTimeoutMs: 1000, lookup }).close?.();
  });
});

describe('createFetchTransport options', () => {
  it.each([
    ['fetch', { fetch: 'https://example.com' }],
    ['hooks', { hooks: [] }],
    ['hooks.beforeRequest', { hooks: { beforeRequest: 'log' } }],
    ['hooks.beforeRequest.0', { hooks: { beforeRequest: ['log'] } }],
    ['hooks.beforeRetry', { hooks: { beforeRetry: [() => undefined] } }],
    ['timeout', { timeout: 5 }],
  ])('refuses a bad `%s` with CONFIG_INVALID on that field', (field, options) => {
    const error = thrownBy(() => createFetchTransport(options as never));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', field });
  });

  it('refuses a second positional argument', () => {
    expect(thrownBy(() => (createFetchTransport as (...args: unknown[]) => unknown)({}, {}))).toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('accepts a fetch and hooks of its own', () => {
    expect(createFetchTransport({ fetch: (input, init) => globalThis.fetch(input, init), hooks: { beforeRequest: [() => undefined], afterResponse: [] } })).toBeDefined();
  });
});
