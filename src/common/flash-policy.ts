/**
 * The Flash socket policy itself (docs/protocol.md section 5): the request
 * Flash Player sends, the limits a request is read within, which domains
 * and ports a policy may name (the configuration checks them at start),
 * and the XML answer. Before a Flash movie (or a Flash WebSocket shim such
 * as web-socket-js) opens a socket, Flash Player connects to port 843 of
 * the host, then to the target port itself, sends `<policy-file-request/>`
 * and a NUL byte, and expects the cross-domain policy XML and a NUL byte
 * back.
 *
 * No I/O here: the configuration (src/config.ts, src/flash-config.ts) and
 * the listeners (transports/flash-policy-*.ts) both use it.
 */

export const POLICY_REQUEST = Buffer.from('<policy-file-request/>\0', 'latin1');

export interface PolicyLimits {
  /** ms from the first byte (or the accept) to a complete request; one deadline, not an idle timer. */
  timeoutMs: number;
  /** Bytes a client may send before it is cut off. */
  maxBytes: number;
  /** Policy connections served at once; beyond it a new one is closed at once. */
  maxConnections: number;
}

/**
 * docs/protocol.md section 5 fixes the wait (3 s) and the size (1 KiB); the cap
 * keeps a flood from exhausting file descriptors. Mutable (read at each
 * connection) so that tests can shorten the wait without a public flag.
 */
export const policyLimits: PolicyLimits = { timeoutMs: 3000, maxBytes: 1024, maxConnections: 1000 };

export type RequestOutcome = 'ok' | 'invalid' | 'oversize' | 'timeout' | 'closed';

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** `*`, or a host name or IPv4 address, optionally as `*.` + a suffix: what Flash takes in `domain`. */
const HOST_PATTERN = new RegExp(`^(?:\\*|(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*)$`);

/** Why a list of domains cannot go into a policy, or undefined when it can (config parsing uses this). */
export function domainsProblem(domains: readonly string[]): string | undefined {
  if (domains.length === 0) return 'needs at least one domain (`*` allows every one)';
  for (const d of domains) {
    if (d.length > 253 || !HOST_PATTERN.test(d)) {
      return `"${d}" is not a host pattern (letters, digits, "-" and ".", optionally starting with "*.")`;
    }
  }
  return undefined;
}

/** Why a list of ports cannot go into `to-ports`, or undefined when it can. An empty list passes: the caller picks a default. */
export function portsProblem(ports: readonly string[]): string | undefined {
  for (const p of ports) {
    if (p === '*') continue;
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(p);
    if (!m) return `"${p}" is not a port or a range such as 8080-8090`;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || lo > hi) return `"${p}" is not within 1-65535 (a range goes from low to high)`;
  }
  return undefined;
}

function escapeAttr(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The policy XML. No `<site-control>`: `master-only` on port 843 would make
 * Flash ignore the inline answer on the HTTP port whenever the two
 * listeners are configured for different ports.
 */
export function policyXml(domains: readonly string[], ports: readonly string[]): string {
  const toPorts = escapeAttr(ports.join(','));
  const lines = [
    '<?xml version="1.0"?>',
    '<!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">',
    '<cross-domain-policy>',
    ...domains.map((d) => `  <allow-access-from domain="${escapeAttr(d)}" to-ports="${toPorts}"/>`),
    '</cross-domain-policy>',
  ];
  return lines.join('\n') + '\n';
}

/** What goes on the wire: the XML and the NUL byte that ends it. */
export function policyResponse(domains: readonly string[], ports: readonly string[]): Buffer {
  return Buffer.from(policyXml(domains, ports) + '\0', 'utf8');
}

