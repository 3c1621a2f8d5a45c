/**
 * Which reverse proxies (nginx, a load balancer) the server believes about
 * the client: `--trust-proxy`, a list of addresses and CIDR ranges. A
 * request whose peer is on the list has its `X-Forwarded-For` read from the
 * right, hop by hop, up to the first address that is not on the list: that
 * one is the client, as per-IP limits count it. `X-Forwarded-Proto` is
 * believed only from a listed peer, so the default origin check sees the
 * scheme the browser used. Anyone else's forwarding headers are ignored, so
 * a client talking to a node directly cannot pick its own address.
 *
 * One rule for every transport: Fastify gets it as its `trustProxy`
 * function (WebSocket, Comet), and SockJS, which handles raw Node requests
 * outside Fastify, asks `clientAddress` and `protocol` here. The walk is
 * the one of proxy-addr (what Fastify does with an address list), written
 * out on node:net's BlockList so that no undeclared package is needed.
 */
import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';

/** Names proxy-addr (and Express, Fastify) accept for common ranges. */
const NAMED_RANGES: Record<string, readonly string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** What the trust rule reads of a request: a raw IncomingMessage, or the parts sockjs keeps of one. */
export interface ForwardedRequest {
  readonly headers: IncomingHttpHeaders | Readonly<Record<string, string | undefined>>;
  readonly socket?: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean } | null;
}

export interface ProxyTrust {
  /** Fastify's `trustProxy` option: false when no proxy is trusted (Fastify then skips the headers altogether). */
  readonly fastifyOption: false | ((address: string, hop: number) => boolean);
  trusts(address: string | undefined): boolean;
  /** The client's address: the peer, or what trusted proxies say they received the request from. */
  clientAddress(req: ForwardedRequest): string;
  /** `https` when the connection is TLS, or a trusted proxy says the browser used it. */
  protocol(req: ForwardedRequest): 'http' | 'https';
}

function parseEntry(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | string {
  const [address = '', bits, extra] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return `"${entry}" is not an IP address, a CIDR range or one of ${Object.keys(NAMED_RANGES).join(', ')}`;
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return `"${entry}": the prefix length must be 0..${max}`;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function expand(entries: readonly string[]): string[] {
  return entries.flatMap((e) => NAMED_RANGES[e] ?? [e]);
}

/** A problem with a `--trust-proxy` list, or undefined (used by the config table). */
export function trustProblem(entries: readonly string[]): string | undefined {
  for (const entry of expand(entries)) {
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string') return parsed;
  }
  return undefined;
}

/** Addresses in X-Forwarded-For, nearest hop first (the header lists them oldest first). */
function forwardedFor(headers: ForwardedRequest['headers']): string[] {
  const header = headers['x-forwarded-for'];
  // Node joins repeated headers with ", "; an array would come from a caller that did not, and proxy-addr ignores it too.
  if (typeof header !== 'string') return [];
  return header
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .reverse();
}

/** The last entry of a header a proxy may have appended to, as Fastify reads X-Forwarded-Proto. */
function lastEntry(value: string): string {
  const i = value.lastIndexOf(',');
  return (i === -1 ? value : value.slice(i + 1)).trim();
}

export function proxyTrust(entries: readonly string[]): ProxyTrust {
  const problem = trustProblem(entries);
  if (problem !== undefined) throw new Error(`--trust-proxy: ${problem}`);
  const list = new BlockList();
  for (const entry of expand(entries)) {
    const parsed = parseEntry(entry);
    if (typeof parsed !== 'string') list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  const trusts = (address: string | undefined): boolean => {
    if (address === undefined) return false;
    const version = isIP(address);
    // BlockList matches an IPv4-mapped IPv6 peer (::ffff:127.0.0.1) against IPv4 ranges itself.
    return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  };
  const enabled = entries.length > 0;

  const clientAddress = (req: ForwardedRequest): string => {
    const peer = req.socket?.remoteAddress ?? '';
    if (!enabled || !trusts(peer)) return peer;
    let client = peer;
    for (const hop of forwardedFor(req.headers)) {
      client = hop;
      if (!trusts(hop)) break;
    }
    return client;
  };

  return {
    fastifyOption: enabled ? (address) => trusts(address) : false,
    trusts,
    clientAddress,
    protocol(req) {
      const proto = req.headers['x-forwarded-proto'];
      if (enabled && typeof proto === 'string' && trusts(req.socket?.remoteAddress)) {
        return lastEntry(proto).toLowerCase() === 'https' ? 'https' : 'http';
      }
      return req.socket?.encrypted === true ? 'https' : 'http';
    },
  };
}
