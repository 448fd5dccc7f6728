/**
 * The SSRF guard: which addresses a webhook may be posted to.
 *
 * With `allowPrivateNetworks` off (the default) loopback, private, CGNAT, link-local
 * (and so the cloud metadata address 169.254.169.254), multicast, reserved and
 * documentation ranges are refused, for IPv4 and IPv6, including IPv6 forms that
 * embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible, NAT64
 * `64:ff9b::/96`, 6to4 `2002::/16`, Teredo `2001::/32`). It is applied twice: at
 * registration to literal addresses and `localhost`, and at connect time to every address a name
 * resolves to, so a name that resolves inside — or rebinds to inside after
 * registration — is refused where it matters.
 *
 * Hostnames reach here already canonicalised by the WHATWG URL parser, which turns
 * `2130706433`, `0177.0.0.1` and `0x7f.1` into `127.0.0.1`.
 */
import { isIP } from 'node:net';

/** Decides, for one resolved address, whether a delivery may connect to it. */
export interface AddressGuard {
  /**
   * True when a connection to this IP address (v4 or v6 text form) is allowed;
   * `hostname` is the name it was resolved from, if any (an allow-listed name may
   * resolve inside).
   */
  allows(address: string, hostname?: string): boolean;
  /** True when a hostname (not an IP literal) may be used at all. */
  allowsHostname(hostname: string): boolean;
}

type Range = readonly [network: number, prefixLength: number];

// [network as a 32-bit number, prefix length]
const forbiddenV4: readonly Range[] = [
  [ipv4ToNumber('0.0.0.0'), 8], // "this network"
  [ipv4ToNumber('10.0.0.0'), 8], // private
  [ipv4ToNumber('100.64.0.0'), 10], // CGNAT
  [ipv4ToNumber('127.0.0.0'), 8], // loopback
  [ipv4ToNumber('169.254.0.0'), 16], // link-local, cloud metadata
  [ipv4ToNumber('172.16.0.0'), 12], // private
  [ipv4ToNumber('192.0.0.0'), 24], // IETF protocol assignments
  [ipv4ToNumber('192.0.2.0'), 24], // TEST-NET-1
  [ipv4ToNumber('192.88.99.0'), 24], // 6to4 relay anycast
  [ipv4ToNumber('192.168.0.0'), 16], // private
  [ipv4ToNumber('198.18.0.0'), 15], // benchmarking
  [ipv4ToNumber('198.51.100.0'), 24], // TEST-NET-2
  [ipv4ToNumber('203.0.113.0'), 24], // TEST-NET-3
  [ipv4ToNumber('224.0.0.0'), 4], // multicast
  [ipv4ToNumber('240.0.0.0'), 4], // reserved, broadcast
];

function ipv4ToNumber(address: string): number {
  const parts = address.split('.');
  let value = 0;
  for (const part of parts) value = value * 256 + Number(part);
  return value >>> 0;
}

function v4InRange(value: number, [network, prefix]: Range): boolean {
  if (prefix === 0) return true;
  const mask = prefix === 32 ? 0xffffffff : (~((1 << (32 - prefix)) - 1)) >>> 0;
  return ((value & mask) >>> 0) === ((network & mask) >>> 0);
}

function isForbiddenV4(value: number): boolean {
  for (const range of forbiddenV4) if (v4InRange(value, range)) return true;
  return false;
}

/** Parses an IPv6 text form (with `::` and an optional trailing dotted quad) into 8 groups. */
function parseIpv6(address: string): number[] | null {
  let text = address;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // A trailing dotted quad (`::ffff:1.2.3.4`) stands for the last two groups.
    const v4 = text.slice(lastColon + 1);
    if (isIP(v4) !== 4) return null;
    const n = ipv4ToNumber(v4);
    text = `${text.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const head = parse(halves[0] ?? '');
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : [];
  const given = head.length + rest.length;
  if (halves.length === 1 && given !== 8) return null;
  if (given > 8) return null;
  const zeros = new Array<number>(8 - given).fill(0);
  const groups = halves.length === 2 ? [...head, ...zeros, ...rest] : head;
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  return groups;
}

function isForbiddenV6(groups: number[]): boolean {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const embeddedV4 = ((g6 << 16) | g7) >>> 0;
  const firstFiveZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  // ::/128 unspecified, ::1 loopback, ::a.b.c.d IPv4-compatible (deprecated, but routes as v4 on some stacks)
  if (firstFiveZero && g5 === 0) return g6 === 0 && g7 <= 1 ? true : isForbiddenV4(embeddedV4);
  // ::ffff:a.b.c.d IPv4-mapped
  if (firstFiveZero && g5 === 0xffff) return isForbiddenV4(embeddedV4);
  // ::ffff:0:a.b.c.d IPv4-translated (RFC 2765)
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0xffff && g5 === 0) return isForbiddenV4(embeddedV4);
  // 64:ff9b::/96 NAT64 (and 64:ff9b:1::/48 local-use NAT64)
  if (g0 === 0x64 && g1 === 0xff9b) return g2 === 1 ? true : isForbiddenV4(embeddedV4);
  // 2002::/16 6to4: the IPv4 address sits in groups 1–2
  if (g0 === 0x2002) return isForbiddenV4(((g1 << 16) | g2) >>> 0);
  if ((g0 & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local (incl. fd00:ec2::254 metadata)
  if ((g0 & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if ((g0 & 0xffc0) === 0xfec0) return true; // fec0::/10 site-local (deprecated)
  if ((g0 & 0xff00) === 0xff00) return true; // ff00::/8 multicast
  if (g0 === 0x2001 && g1 === 0x0db8) return true; // 2001:db8::/32 documentation
  // 2001::/23 IETF protocol assignments, as 192.0.0.0/24 is for IPv4: Teredo 2001::/32 (an
  // IPv4 address inside, obfuscated), benchmarking 2001:2::/48, ORCHID; no webhook lives there.
  if (g0 === 0x2001 && g1 <= 0x01ff) return true;
  if (g0 === 0x3fff && g1 <= 0x0fff) return true; // 3fff::/20 documentation (RFC 9637)
  if (g0 === 0x0100 && g1 === 0 && g2 === 0 && g3 === 0) return true; // 100::/64 discard
  return false;
}

/**
 * True when the address is one a webhook must not reach with the guard on
 * (loopback, private, CGNAT, link-local/metadata, multicast, reserved, documentation,
 * and IPv6 forms embedding such an IPv4 address). Unparsable input counts as forbidden.
 */
export function isForbiddenAddress(address: string): boolean {
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const kind = isIP(text.split('%')[0] ?? '');
  if (kind === 4) return isForbiddenV4(ipv4ToNumber(text));
  if (kind === 6) {
    const groups = parseIpv6(text);
    return groups === null ? true : isForbiddenV6(groups);
  }
  return true;
}

/** Names that always mean this machine, whatever DNS says. */
function isLocalHostname(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/** The guard for `allowPrivateNetworks: false`. */
export const privateNetworkGuard: AddressGuard = Object.freeze({
  allows: (address: string) => !isForbiddenAddress(address),
  allowsHostname: (hostname: string) => !isLocalHostname(hostname),
});

/** Parses an IPv4 or IPv6 address into 16 bytes (IPv4 as IPv4-mapped), or `null`. */
function addressBytes(address: string): Uint8Array | null {
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const kind = isIP(text);
  const bytes = new Uint8Array(16);
  if (kind === 4) {
    const n = ipv4ToNumber(text);
    bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    return bytes;
  }
  if (kind !== 6) return null;
  const groups = parseIpv6(text);
  if (groups === null) return null;
  groups.forEach((group, index) => {
    bytes[index * 2] = group >>> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}

interface Cidr {
  bytes: Uint8Array;
  prefixBits: number;
}

function parseCidr(entry: string): Cidr | null {
  const parts = entry.split('/');
  // `10.0.0.0/8/24` is no range: read as /8 it would allow more than either number says.
  if (parts.length > 2) return null;
  const [address, prefix] = parts;
  const bytes = addressBytes(address ?? '');
  if (bytes === null) return null;
  const isV4 = isIP(address ?? '') === 4;
  const maxBits = isV4 ? 32 : 128;
  const bits = prefix === undefined ? maxBits : Number(prefix);
  if (!Number.isInteger(bits) || bits < 0 || bits > maxBits || (prefix !== undefined && !/^\d+$/.test(prefix))) return null;
  return { bytes, prefixBits: isV4 ? 96 + bits : bits };
}

function inCidr(bytes: Uint8Array, cidr: Cidr): boolean {
  let bits = cidr.prefixBits;
  for (let index = 0; index < 16 && bits > 0; index++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[index]! & mask) !== (cidr.bytes[index]! & mask)) return false;
  }
  return true;
}

/**
 * True when `entry` is a valid allow-list entry: an IP address, a CIDR range
 * (`10.20.0.0/16`, `fd00::/8`), a hostname (`erp.internal`) or a wildcard name
 * (`*.corp.example`, which matches subdomains, not the apex).
 */
export function isValidAllowedHost(entry: string): boolean {
  if (entry.includes('/') || isIP(entry) !== 0) return parseCidr(entry) !== null;
  // A name whose last label is a number (`1.2.3`, `010.0.0.1`, `0x7f.1`) is no name to the URL
  // parser, which reads it as an IPv4 address (`010.0.0.1` is 8.0.0.1): it would never match.
  const lastLabel = entry.replace(/\.$/, '').split('.').pop() ?? '';
  if (/^(\d+|0x[0-9a-f]*)$/i.test(lastLabel)) return false;
  return /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(entry);
}

// What `localhost` stands for in the allow-list: this machine's loopback addresses.
const loopbackRanges: readonly Cidr[] = [parseCidr('127.0.0.1')!, parseCidr('::1')!];

/**
 * The SSRF guard with an allow-list of internal endpoints the host trusts (an ERP on
 * the company network): names and wildcard names may resolve anywhere, addresses in
 * the listed ranges may be reached; everything else follows the private-network rules.
 *
 * `localhost` is read as its loopback addresses, both ways: listing `localhost` allows
 * `127.0.0.1` and `::1`, and listing either address allows a URL to `localhost` (which
 * may resolve to the other). Other names that resolve to loopback stay refused unless
 * they, or their address, are listed: that is the DNS-rebinding guard.
 */
export function createAddressGuard(allowedHosts: readonly string[]): AddressGuard {
  if (allowedHosts.length === 0) return privateNetworkGuard;
  const ranges: Cidr[] = [];
  const names = new Set<string>();
  const suffixes: string[] = [];
  let localhostListed = false;
  for (const entry of allowedHosts) {
    if (entry.includes('/') || isIP(entry) !== 0) {
      const cidr = parseCidr(entry);
      if (cidr === null) throw new TypeError(`Invalid allow-list entry ${JSON.stringify(entry)}`);
      ranges.push(cidr);
    } else if (entry.startsWith('*.')) {
      suffixes.push(entry.slice(1).toLowerCase());
    } else {
      const name = entry.toLowerCase().replace(/\.$/, '');
      if (name === 'localhost') localhostListed = true;
      else names.add(name);
    }
  }
  const inRanges = (bytes: Uint8Array): boolean => ranges.some((range) => inCidr(bytes, range));
  const isLoopback = (bytes: Uint8Array): boolean => loopbackRanges.some((range) => inCidr(bytes, range));
  const loopbackAllowed = localhostListed || loopbackRanges.some((loopback) => inRanges(loopback.bytes));
  const nameAllowed = (hostname: string): boolean => {
    const name = hostname.toLowerCase().replace(/\.$/, '');
    return names.has(name) || suffixes.some((suffix) => name.endsWith(suffix));
  };
  const localAllowed = (hostname: string): boolean => nameAllowed(hostname) || loopbackAllowed;
  return Object.freeze({
    allows(address: string, hostname?: string): boolean {
      const local = hostname !== undefined && isLocalHostname(hostname);
      if (hostname !== undefined && !local && nameAllowed(hostname)) return true;
      if (!isForbiddenAddress(address)) return true;
      const bytes = addressBytes(address);
      if (bytes === null) return false;
      if (inRanges(bytes)) return true;
      if (!isLoopback(bytes)) return false;
      // A local name reaches loopback once localhost is allowed; a literal address
      // (no name, or the name is the literal) once `localhost` itself is listed.
      if (local) return localAllowed(hostname);
      return localhostListed && (hostname === undefined || ipLiteralOf(hostname) !== null);
    },
    allowsHostname: (hostname: string) => !isLocalHostname(hostname) || localAllowed(hostname),
  });
}

/** The IP literal inside a URL hostname (`[::1]` → `::1`), or `null` for a name. */
export function ipLiteralOf(hostname: string): string | null {
  const text = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(text) === 0 ? null : text;
}

/**
 * Checks a URL's host before any connection: IP literals against the address rules,
 * names against the local-name rule. Resolved names are checked at connect time.
 * Returns a reason when refused, `null` when allowed.
 */
export function checkUrlHost(url: URL, guard: AddressGuard | null): string | null {
  if (guard === null) return null;
  const literal = ipLiteralOf(url.hostname);
  if (literal !== null) return guard.allows(literal) ? null : `address ${literal} is in a private or reserved range`;
  return guard.allowsHostname(url.hostname) ? null : `host ${url.hostname} is local`;
}

/** The error a guarded DNS lookup fails with; transports classify it as `ssrf`. */
export class ForbiddenAddressError extends Error {
  readonly code = 'ERR_WEBHOOK_FORBIDDEN_ADDRESS';
  constructor(hostname: string, address: string) {
    super(
      `${hostname} resolves to ${address}, a private or reserved address (SSRF guard); list ${JSON.stringify(hostname)} in security.allowedHosts to allow it`,
    );
    this.name = 'ForbiddenAddressError';
  }
}
