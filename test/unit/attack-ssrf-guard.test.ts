/**
 * The SSRF guard against IPv6 ranges that are the counterparts of IPv4 ranges it already
 * refuses: IETF protocol assignments (192.0.0.0/24 ↔ 2001::/23, which holds Teredo with an
 * IPv4 address inside it and benchmarking 2001:2::/48 ↔ 198.18.0.0/15) and documentation
 * (TEST-NET ↔ 3fff::/20, RFC 9637, beside 2001:db8::/32), at registration and at connect time;
 * and `security.allowedHosts` entries that could never mean what they say.
 */
import { describe, expect, it } from 'vitest';
import { createWebhooks } from '../../src/index.js';
import { checkUrlHost, createAddressGuard, isForbiddenAddress, isValidAllowedHost, privateNetworkGuard } from '../../src/delivery/ssrf-guard.js';

describe('the SSRF guard on IPv6 special-purpose ranges', () => {
  it.each([
    ['Teredo 2001::/32, its first address', '2001::1'],
    ['a Teredo address whose client part is 127.0.0.1 obfuscated', '2001:0:4136:e378:8000:63bf:80ff:fffe'],
    ['benchmarking 2001:2::/48', '2001:2::1'],
    ['ORCHIDv2 2001:20::/28', '2001:20::1'],
    ['the far end of 2001::/23', '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['documentation 3fff::/20', '3fff::1'],
    ['the far end of 3fff::/20', '3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ])('refuses %s (%s), as a resolved address and as a URL literal', (_name, address) => {
    expect(isForbiddenAddress(address)).toBe(true);
    expect(privateNetworkGuard.allows(address)).toBe(false);
    expect(checkUrlHost(new URL(`http://[${address}]/hooks`), privateNetworkGuard)).toEqual(expect.any(String));
  });

  it.each([
    ['the first address past 2001::/23', '2001:200::1'],
    ['Google DNS', '2001:4860:4860::8888'],
    ['the first address past 3fff::/20', '3fff:1000::1'],
    ['the last address before 3fff::/20', '3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ])('allows %s (%s)', (_name, address) => {
    expect(isForbiddenAddress(address)).toBe(false);
    expect(privateNetworkGuard.allows(address)).toBe(true);
  });

  it('lets an allow-listed range in 2001::/23 through', () => {
    const guard = createAddressGuard(['2001:2::/48']);
    expect(guard.allows('2001:2::5')).toBe(true);
    expect(guard.allows('2001::1')).toBe(false);
  });
});

describe('allow-list entries that cannot mean what they say', () => {
  it.each([
    ['a range with two prefixes, which was read as its first (wider) one', '10.0.0.0/8/24'],
    ['a range with a trailing slash after its prefix', '10.0.0.0/8/'],
    ['a dotted number the URL parser reads as another address (010.0.0.1 is 8.0.0.1)', '010.0.0.1'],
    ['a short dotted number', '1.2.3'],
    ['a hex spelling of loopback', '0x7f.1'],
    ['a wildcard over a number', '*.10'],
  ])('refuses %s (%s)', (_name, entry) => {
    expect(isValidAllowedHost(entry)).toBe(false);
  });

  it('refuses such an entry in security.allowedHosts with CONFIG_INVALID, naming the field', () => {
    let caught: unknown;
    try {
      createWebhooks({ security: { allowedHosts: ['10.0.0.0/8/24'] } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'CONFIG_INVALID', field: 'security.allowedHosts.0' });
  });

  it('no longer lets 10.0.0.0/8/24 stand for all of 10/8', () => {
    expect(() => createAddressGuard(['10.0.0.0/8/24'])).toThrow(TypeError);
  });

  it.each([['10.0.0.0/8'], ['erp.internal'], ['*.corp.example'], ['api.v2.example'], ['10.0.0.1'], ['fd00::/8'], ['localhost']])('still accepts %s', (entry) => {
    expect(isValidAllowedHost(entry)).toBe(true);
  });
});
