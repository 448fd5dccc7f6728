/**
 * The DNS lookup a socket calls at connect time, built around `dns.lookup` or a
 * host's own resolver: it applies the SSRF guard to every address a name resolves
 * to, and holds a custom lookup to `dns.lookup`'s contract. Whatever that lookup
 * does — answer one address when asked for all (Node's `net` asks for all when it
 * races IPv4 and IPv6), answer something that is not an address, throw — the socket
 * gets an answer of the shape it asked for or a coded error, and nothing throws out
 * of a socket's callback, where it would take the process down.
 */
import { isIP } from 'node:net';
import type { LookupAddress, LookupOptions, lookup as dnsLookup } from 'node:dns';
import { ForbiddenAddressError, type AddressGuard } from './ssrf-guard.js';

/** A custom DNS lookup broke `dns.lookup`'s contract: it threw, or answered something that is not an IP address. */
export class InvalidLookupError extends Error {
  readonly code = 'ERR_WEBHOOK_LOOKUP_INVALID';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidLookupError';
  }
}

type SocketLookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** What a socket calls: `dns.lookup`'s signature with options. */
export type SocketLookup = (hostname: string, options: LookupOptions, callback: SocketLookupCallback) => void;

/** A lookup as a host may write it: the callback's arguments are whatever it passes. */
type AnyLookup = (hostname: string, options: LookupOptions, callback: (error: unknown, address?: unknown, family?: unknown) => void) => void;

/** The addresses of a lookup's answer, either shape; `null` when it is not a list of IP addresses. */
function addressesOf(answer: unknown): LookupAddress[] | null {
  if (typeof answer === 'string') {
    const family = isIP(answer);
    return family === 0 ? null : [{ address: answer, family }];
  }
  if (!Array.isArray(answer)) return null;
  const addresses: LookupAddress[] = [];
  for (const entry of answer as unknown[]) {
    const address = typeof entry === 'object' && entry !== null ? (entry as { address?: unknown }).address : undefined;
    const family = typeof address === 'string' ? isIP(address) : 0;
    if (family === 0) return null;
    addresses.push({ address: address as string, family });
  }
  return addresses;
}

function describeAnswer(answer: unknown): string {
  if (typeof answer === 'string') return JSON.stringify(answer.slice(0, 100));
  if (Array.isArray(answer)) return `a list with ${JSON.stringify(answer).slice(0, 100)}`;
  return answer === null ? 'null' : typeof answer;
}

/**
 * Builds the connect-time lookup: `lookup` asked for every address of a name, each
 * checked by `guard` (when there is one), answered in the shape the socket asked for.
 */
export function connectLookup(lookup: typeof dnsLookup, guard: AddressGuard | null): SocketLookup {
  const resolve = lookup as unknown as AnyLookup;
  return (hostname, options, callback) => {
    let answered = false;
    let socketThrew = false;
    /** Gives the socket its one answer, noting whether its own callback threw. */
    const reply = (send: () => void): void => {
      answered = true;
      try {
        send();
      } catch (error) {
        socketThrew = true;
        throw error;
      }
    };
    const fail = (error: NodeJS.ErrnoException): void => reply(() => callback(error, ''));
    try {
      resolve(hostname, { ...options, all: true }, (error, answer) => {
        if (answered) return;
        if (error) return fail(error instanceof Error ? error : new InvalidLookupError(`Expected the DNS lookup of ${hostname} to fail with an Error, got ${describeAnswer(error)}`));
        const addresses = addressesOf(answer);
        if (addresses === null) {
          return fail(new InvalidLookupError(`Expected the DNS lookup of ${hostname} to answer IP addresses, got ${describeAnswer(answer)}`));
        }
        const first = addresses[0];
        if (first === undefined) return fail(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }));
        if (guard !== null) {
          // Refuse the name outright if any of its addresses is internal: picking the
          // public one would let a rebinding name choose which one we connect to.
          for (const { address } of addresses) {
            if (!guard.allows(address, hostname)) return fail(new ForbiddenAddressError(hostname, address));
          }
        }
        reply(() => {
          if (options.all) callback(null, addresses);
          else callback(null, first.address, first.family);
        });
      });
    } catch (error) {
      // A throw from the socket's own callback is not the lookup's to report.
      if (socketThrew) throw error;
      // The lookup threw after it answered: the socket has its answer and is connecting.
      // Thrown on, out of net.connect, it would leave that socket with no 'error' listener,
      // and its next error would end the process.
      if (answered) return;
      fail(new InvalidLookupError(`Expected the DNS lookup of ${hostname} to call back, but it threw`, { cause: error }));
    }
  };
}
