import { describe, expect, it } from 'vitest';
import { checkUrlHost, createAddressGuard, ipLiteralOf, isForbiddenAddress, privateNetworkGuard } from '../../src/delivery/ssrf-guard.js';

describe('isForbiddenAddress on IPv4', () => {
  it.each([
    ['loopback', '127.0.0.1'],
    ['loopback, the far end of 127/8', '127.255.255.254'],
    ['private 10/8', '10.0.0.1'],
    ['private 10/8, last address', '10.255.255.255'],
    ['private 172.16/12, first address', '172.16.0.1'],
    ['private 172.16/12, last address', '172.31.255.255'],
    ['private 192.168/16', '192.168.1.1'],
    ['CGNAT 100.64/10, first address', '100.64.0.1'],
    ['CGNAT 100.64/10, last address', '100.127.255.255'],
    ['link-local', '169.254.1.1'],
    ['the cloud metadata address', '169.254.169.254'],
    ['the unspecified address', '0.0.0.0'],
    ['"this network" 0/8', '0.1.2.3'],
    ['multicast 224/4', '224.0.0.1'],
    ['multicast 224/4, last address', '239.255.255.255'],
    ['reserved 240/4', '240.0.0.1'],
    ['the limited broadcast address', '255.255.255.255'],
    ['TEST-NET-1', '192.0.2.1'],
    ['TEST-NET-2', '198.51.100.1'],
    ['TEST-NET-3', '203.0.113.1'],
    ['IETF protocol assignments 192.0.0/24', '192.0.0.8'],
    ['benchmarking 198.18/15', '198.19.0.1'],
  ])('refuses %s (%s)', (_name, address) => {
    expect(isForbiddenAddress(address)).toBe(true);
    expect(privateNetworkGuard.allows(address)).toBe(false);
  });

  it.each([
    ['Google DNS', '8.8.8.8'],
    ['Cloudflare DNS', '1.1.1.1'],
    ['172.32.0.1, just past 172.16/12', '172.32.0.1'],
    ['172.15.255.255, just before 172.16/12', '172.15.255.255'],
    ['100.128.0.1, just past 100.64/10', '100.128.0.1'],
    ['100.63.255.255, just before 100.64/10', '100.63.255.255'],
    ['192.169.0.1, just past 192.168/16', '192.169.0.1'],
    ['169.255.0.1, just past 169.254/16', '169.255.0.1'],
    ['11.0.0.1, just past 10/8', '11.0.0.1'],
    ['223.255.255.255, just before multicast', '223.255.255.255'],
    ['a public address', '93.184.215.14'],
  ])('allows %s', (_name, address) => {
    expect(isForbiddenAddress(address)).toBe(false);
    expect(privateNetworkGuard.allows(address)).toBe(true);
  });
});

describe('isForbiddenAddress on IPv6', () => {
  it.each([
    ['loopback ::1', '::1'],
    ['loopback, written out', '0:0:0:0:0:0:0:1'],
    ['the unspecified address ::', '::'],
    ['unique local fc00::/7 (fc)', 'fc00::1'],
    ['unique local fc00::/7 (fd)', 'fdff:ffff::1'],
    ['the AWS metadata address fd00:ec2::254', 'fd00:ec2::254'],
    ['link-local fe80::/10', 'fe80::1'],
    ['link-local fe80::/10, far end', 'febf::1'],
    ['multicast ff02::1', 'ff02::1'],
    ['multicast ff05::2', 'ff05::2'],
    ['documentation 2001:db8::', '2001:db8::'],
    ['documentation 2001:db8::/32, inside', '2001:db8:1234::5'],
    ['IPv4-mapped loopback, dotted', '::ffff:127.0.0.1'],
    ['IPv4-mapped loopback, hex', '::ffff:7f00:1'],
    ['IPv4-mapped loopback, written out', '0:0:0:0:0:ffff:7f00:1'],
    ['IPv4-mapped private 10/8', '::ffff:10.0.0.1'],
    ['IPv4-mapped metadata', '::ffff:169.254.169.254'],
    ['IPv4-compatible loopback', '::127.0.0.1'],
    ['NAT64 of the metadata address', '64:ff9b::a9fe:a9fe'],
    ['NAT64 of loopback, dotted', '64:ff9b::127.0.0.1'],
    ['local-use NAT64 64:ff9b:1::/48', '64:ff9b:1::808:808'],
    ['6to4 of loopback', '2002:7f00:1::'],
    ['6to4 of a private address', '2002:c0a8:101::1'],
    ['link-local with a zone id', 'fe80::1%eth0'],
    ['loopback with a zone id', '::1%lo'],
    ['loopback in brackets', '[::1]'],
  ])('refuses %s (%s)', (_name, address) => {
    expect(isForbiddenAddress(address)).toBe(true);
    expect(privateNetworkGuard.allows(address)).toBe(false);
  });

  it.each([
    ['IPv4-mapped public address', '::ffff:8.8.8.8'],
    ['IPv4-mapped public address, hex', '::ffff:808:808'],
    ['NAT64 of a public address', '64:ff9b::808:808'],
    ['6to4 of a public address', '2002:808:808::'],
    ['Cloudflare DNS', '2606:4700:4700::1111'],
    ['Google DNS', '2001:4860:4860::8888'],
    ['a public address with a zone id', '2606:4700:4700::1111%eth0'],
  ])('allows %s (%s)', (_name, address) => {
    expect(isForbiddenAddress(address)).toBe(false);
    expect(privateNetworkGuard.allows(address)).toBe(true);
  });
});

describe('isForbiddenAddress on what is not an address', () => {
  it.each([['a hostname', 'example.com'], ['an empty string', ''], ['a malformed address', '1.2.3'], ['garbage', 'not an ip']])(
    'refuses %s: unparsable input counts as forbidden',
    (_name, address) => {
      expect(isForbiddenAddress(address)).toBe(true);
    },
  );
});

describe('ipLiteralOf', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]', '::1'],
    ['[2606:4700:4700::1111]', '2606:4700:4700::1111'],
    ['::1', '::1'],
  ])('returns the address inside the hostname %s', (hostname, expected) => {
    expect(ipLiteralOf(hostname)).toBe(expected);
  });

  it.each(['example.com', 'localhost', '[example.com]', ''])('returns null for the name %j', (hostname) => {
    expect(ipLiteralOf(hostname)).toBeNull();
  });
});

describe('checkUrlHost with the private network guard', () => {
  it.each([
    ['a decimal IPv4 address', 'http://2130706433/'],
    ['an octal IPv4 address', 'http://0177.0.0.1/'],
    ['a short hexadecimal IPv4 address', 'http://0x7f.1/'],
    ['an IPv4 loopback address with a port', 'http://127.0.0.1:8080/hooks'],
    ['an IPv6 loopback address', 'http://[::1]/'],
    ['an IPv4-mapped IPv6 loopback address', 'http://[::ffff:127.0.0.1]/'],
    ['an IPv4-mapped loopback written out in full', 'http://[0:0:0:0:0:ffff:127.0.0.1]/'],
    ['a NAT64 metadata address', 'http://[64:ff9b::a9fe:a9fe]/'],
    ['the metadata address', 'http://169.254.169.254/latest/meta-data/'],
    ['a private address over https', 'https://10.1.2.3/'],
    ['localhost', 'http://localhost/'],
    ['a subdomain of localhost', 'http://foo.localhost/'],
    ['LOCALHOST. in capitals with a trailing dot', 'http://LOCALHOST./'],
    ['localhost with a port', 'http://localhost:3000/hooks'],
  ])('refuses %s (%s) with a reason', (_name, url) => {
    const reason = checkUrlHost(new URL(url), privateNetworkGuard);
    expect(reason).toEqual(expect.any(String));
    expect(reason).not.toBe('');
  });

  it.each([
    ['a public name', 'https://example.com/'],
    ['a public name with a path and port', 'https://hooks.example.com:8443/in?x=1'],
    ['a public IPv4 address', 'http://8.8.8.8/'],
    ['a public IPv6 address', 'https://[2606:4700:4700::1111]/'],
    ['a name that merely contains localhost', 'https://localhost.example.com/'],
    ['a name ending in -localhost', 'https://my-localhost/'],
  ])('allows %s (%s)', (_name, url) => {
    expect(checkUrlHost(new URL(url), privateNetworkGuard)).toBeNull();
  });
});

describe('checkUrlHost without a guard', () => {
  it.each([
    'http://2130706433/',
    'http://0177.0.0.1/',
    'http://0x7f.1/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://localhost/',
    'http://foo.localhost/',
    'http://LOCALHOST./',
    'http://169.254.169.254/',
    'https://example.com/',
  ])('allows everything (%s) when allowPrivateNetworks is on', (url) => {
    expect(checkUrlHost(new URL(url), null)).toBeNull();
  });
});

describe('privateNetworkGuard', () => {
  it.each(['localhost', 'LOCALHOST', 'localhost.', 'a.b.localhost', 'foo.localhost.'])('refuses the local name %j', (hostname) => {
    expect(privateNetworkGuard.allowsHostname(hostname)).toBe(false);
  });

  it.each(['example.com', 'localhost.example.com', 'notlocalhost'])('allows the name %j', (hostname) => {
    expect(privateNetworkGuard.allowsHostname(hostname)).toBe(true);
  });

  it('is frozen, so no caller can weaken the default guard', () => {
    expect(Object.isFrozen(privateNetworkGuard)).toBe(true);
  });
});

describe('createAddressGuard reads localhost as its loopback addresses', () => {
  it.each([['127.0.0.1'], ['::1'], ['127.0.0.1/32'], ['localhost']])(
    'lets a URL to localhost through with %j listed, at registration and for both loopback addresses at connect time',
    (entry) => {
      const guard = createAddressGuard([entry]);
      expect(checkUrlHost(new URL('http://localhost:3000/hooks'), guard)).toBeNull();
      expect(checkUrlHost(new URL('http://LocalHost.:3000/hooks'), guard)).toBeNull();
      expect(guard.allows('127.0.0.1', 'localhost')).toBe(true);
      expect(guard.allows('::1', 'localhost')).toBe(true);
      expect(guard.allows('::ffff:127.0.0.1', 'localhost')).toBe(true);
    },
  );

  it('lets the literal loopback addresses through when localhost is listed', () => {
    const guard = createAddressGuard(['localhost']);
    expect(checkUrlHost(new URL('http://127.0.0.1:3000/'), guard)).toBeNull();
    expect(checkUrlHost(new URL('http://[::1]:3000/'), guard)).toBeNull();
    expect(guard.allows('127.0.0.1', '127.0.0.1')).toBe(true);
    expect(guard.allows('::1', '[::1]')).toBe(true);
  });

  it('still refuses another name that resolves to loopback when only localhost is listed (DNS rebinding)', () => {
    const guard = createAddressGuard(['localhost']);
    expect(guard.allowsHostname('rebind.example')).toBe(true);
    expect(guard.allows('127.0.0.1', 'rebind.example')).toBe(false);
    expect(guard.allows('::1', 'rebind.example')).toBe(false);
  });

  it('still refuses what localhost does not stand for: other private addresses, and localhost resolving elsewhere', () => {
    const guard = createAddressGuard(['localhost']);
    expect(checkUrlHost(new URL('http://10.0.0.5/'), guard)).not.toBeNull();
    expect(checkUrlHost(new URL('http://127.0.0.2/'), guard)).not.toBeNull();
    expect(guard.allows('10.0.0.5', 'localhost')).toBe(false);
    expect(guard.allows('169.254.169.254', 'localhost')).toBe(false);
  });

  it('keeps refusing localhost when the list names neither it nor a loopback address', () => {
    const guard = createAddressGuard(['10.0.0.0/8', 'erp.internal']);
    expect(checkUrlHost(new URL('http://localhost:3000/'), guard)).not.toBeNull();
    expect(guard.allows('127.0.0.1', 'localhost')).toBe(false);
  });

  it('does not stretch a listed loopback address to the other literal one', () => {
    const guard = createAddressGuard(['127.0.0.1']);
    expect(checkUrlHost(new URL('http://[::1]:3000/'), guard)).not.toBeNull();
    expect(guard.allows('::1')).toBe(false);
  });
});
