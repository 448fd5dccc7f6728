/**
 * The egress proxy (`createWebhooks({ http: { proxy } })`): the option's shapes, its
 * resolution into the proxy each target URL goes through (`NO_PROXY` rules included), and
 * the redacted form of a proxy URL that messages may show. Resolved once, at
 * `createWebhooks` (the environment is read then); the resolved form is data, so it
 * crosses to a dispatcher's worker thread as it is.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/**
 * The `http.proxy` option: a proxy URL (`http://proxy.internal:3128`, credentials as
 * `http://user:pass@…`), the URL with `noProxy` patterns, or `'env'` to read
 * `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (lower-case names first) when the instance is created.
 */
export type ProxyOption = string | { url: string; noProxy?: readonly string[] } | 'env';

/** The proxy after resolution: which proxy each scheme goes through, and the targets that bypass it. */
export interface ResolvedProxy {
  /** The proxy for `http:` targets; `null`: they go direct. */
  readonly http: string | null;
  /** The proxy for `https:` targets; `null`: they go direct. */
  readonly https: string | null;
  /** `NO_PROXY` patterns, lower case: targets they match go direct. */
  readonly noProxy: readonly string[];
}

const field = 'http.proxy';

/** A proxy URL as messages and logs may show it: scheme, host and port, never the credentials. */
export function redactProxyUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const credentials = parsed.username !== '' || parsed.password !== '' ? '***@' : '';
    return `${parsed.protocol}//${credentials}${parsed.host}`;
  } catch {
    return 'a string that is not a URL';
  }
}

/** Checks a proxy URL: http: or https:, a host, nothing after it but `/`. Returns it as given. */
function checkProxyUrl(url: unknown, at: string): string {
  if (typeof url !== 'string') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`${at}\` to be a proxy URL (http://host:port), got ${url === null ? 'null' : typeof url}`, { field: at });
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not echoed: a malformed URL may still hold a password.
    throw new ConfigError('CONFIG_INVALID', `Expected \`${at}\` to be an absolute proxy URL (http://host:port), got a string of ${url.length} characters that is not a URL`, {
      field: at,
    });
  }
  const shown = redactProxyUrl(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`${at}\` to use http: or https:, got ${parsed.protocol} (${shown})`, { field: at });
  }
  if (parsed.hostname === '' || (parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search !== '' || parsed.hash !== '') {
    throw new ConfigError('CONFIG_INVALID', `Expected \`${at}\` to be a proxy URL with a host and no path, query or fragment, got ${shown}${parsed.pathname}…`, { field: at });
  }
  return url;
}

const hostnamePattern = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The `NO_PROXY` pattern `entry` normalised, or `null` when it is none. */
function normaliseNoProxy(entry: string): string | null {
  const text = entry.trim().toLowerCase();
  if (text === '*') return text;
  if (text.includes('/')) {
    const [address, bits] = text.split('/');
    const kind = isIP(address ?? '');
    const prefix = Number(bits);
    if (kind === 0 || !/^\d+$/.test(bits ?? '') || prefix > (kind === 4 ? 32 : 128)) return null;
    return text;
  }
  // An IPv6 literal, bracketed with a port or bare.
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return isIP(bracketed[1]!) === 6 && portOk(bracketed[2]) ? text : null;
  if (isIP(text) === 6) return text;
  const [host, port, extra] = text.split(':');
  if (extra !== undefined || !portOk(port)) return null;
  const name = host!.startsWith('*.') ? host!.slice(2) : host!.startsWith('.') ? host!.slice(1) : host!;
  return isIP(name) === 4 || hostnamePattern.test(name) ? text : null;
}

function portOk(port: string | undefined): boolean {
  return port === undefined || (/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65_535);
}

function checkNoProxy(entries: unknown, at: string): string[] {
  if (!Array.isArray(entries)) throw new ConfigError('CONFIG_INVALID', `Expected \`${at}\` to be a list of NO_PROXY patterns, got ${typeof entries}`, { field: at });
  return entries.map((entry: unknown, index) => {
    const normalised = typeof entry === 'string' ? normaliseNoProxy(entry) : null;
    if (normalised === null) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `Expected \`${at}[${index}]\` to be a NO_PROXY pattern ("*", a host, ".domain" or "*.domain", an IP address or CIDR range, each with an optional ":port"), got ${JSON.stringify(entry)?.slice(0, 100)}`,
        { field: `${at}.${index}` },
      );
    }
    return normalised;
  });
}

type Environment = Readonly<Record<string, string | undefined>>;

function fromEnvironment(env: Environment): ResolvedProxy | null {
  const read = (name: string): string | null => {
    const value = env[name.toLowerCase()] ?? env[name];
    return value === undefined || value.trim() === '' ? null : value.trim();
  };
  const httpProxy = read('HTTP_PROXY');
  const httpsProxy = read('HTTPS_PROXY');
  if (httpProxy === null && httpsProxy === null) return null;
  const noProxy = read('NO_PROXY');
  return Object.freeze({
    http: httpProxy === null ? null : checkProxyUrl(httpProxy, 'HTTP_PROXY'),
    // As undici's EnvHttpProxyAgent and curl: https targets fall back to HTTP_PROXY.
    https: httpsProxy === null ? httpProxy : checkProxyUrl(httpsProxy, 'HTTPS_PROXY'),
    noProxy: Object.freeze(noProxy === null ? [] : checkNoProxy(noProxy.split(/[\s,]+/).filter(Boolean), 'NO_PROXY')),
  });
}

/**
 * Resolves `http.proxy`: `null` (or `'env'` with neither variable set) for direct
 * connections. @throws ConfigError `CONFIG_INVALID` naming the option, with any password
 * in a URL left out of the message.
 */
export function resolveProxyOption(value: unknown, env: Environment = process.env): ResolvedProxy | null {
  if (value === undefined || value === null) return null;
  if (value === 'env') return fromEnvironment(env);
  if (typeof value === 'string') {
    const url = checkProxyUrl(value, field);
    return Object.freeze({ http: url, https: url, noProxy: Object.freeze([]) });
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    const { url, noProxy, ...rest } = value as { url?: unknown; noProxy?: unknown };
    const unknownKey = Object.keys(rest)[0];
    if (unknownKey !== undefined) {
      throw new ConfigError('CONFIG_INVALID', `Expected \`${field}\` to have only the keys url and noProxy, got ${JSON.stringify(unknownKey)}`, { field: `${field}.${unknownKey}` });
    }
    const checked = checkProxyUrl(url, `${field}.url`);
    return Object.freeze({ http: checked, https: checked, noProxy: Object.freeze(noProxy === undefined ? [] : checkNoProxy(noProxy, `${field}.noProxy`)) });
  }
  throw new ConfigError('CONFIG_INVALID', `Expected \`${field}\` to be a proxy URL, { url, noProxy }, "env" or null, got ${Array.isArray(value) ? 'an array' : typeof value}`, {
    field,
  });
}

/** The default port of a URL's scheme. */
function portOf(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** True when a `NO_PROXY` pattern matches the target. */
function bypasses(pattern: string, url: URL, host: string, address: string | null): boolean {
  if (pattern === '*') return true;
  if (pattern.includes('/')) {
    if (address === null) return false;
    const [network, bits] = pattern.split('/') as [string, string];
    const list = new BlockList();
    const family = isIP(network) === 4 ? 'ipv4' : 'ipv6';
    list.addSubnet(network, Number(bits), family);
    return list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
  }
  let name = pattern;
  let port: number | null = null;
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(pattern);
  if (bracketed) {
    name = bracketed[1]!;
    port = bracketed[2] === undefined ? null : Number(bracketed[2]);
  } else if (isIP(pattern) !== 6 && pattern.includes(':')) {
    const at = pattern.lastIndexOf(':');
    name = pattern.slice(0, at);
    port = Number(pattern.slice(at + 1));
  }
  if (port !== null && port !== portOf(url)) return false;
  if (address !== null) return isIP(name) !== 0 && name === address;
  // ".example.com" and "*.example.com": subdomains; "example.com": the name and its subdomains (curl's and Go's reading).
  if (name.startsWith('*.')) return host.endsWith(name.slice(1));
  if (name.startsWith('.')) return host.endsWith(name);
  return host === name || host.endsWith(`.${name}`);
}

/** The proxy URL a request to `url` goes through, or `null` to go direct. */
export function proxyUrlFor(proxy: ResolvedProxy | null, url: URL): string | null {
  if (proxy === null) return null;
  const through = url.protocol === 'https:' ? proxy.https : proxy.http;
  if (through === null) return null;
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const literal = host.startsWith('[') ? host.slice(1, -1) : host;
  const address = isIP(literal) === 0 ? null : literal;
  return proxy.noProxy.some((pattern) => bypasses(pattern, url, host, address)) ? null : through;
}
