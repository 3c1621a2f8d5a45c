/**
 * The Flash socket policy (docs/protocol.md section 5). Before a Flash movie (or
 * a Flash WebSocket shim such as web-socket-js) opens a socket, Flash Player
 * connects to port 843 of the host, then to the target port itself, sends
 * `<policy-file-request/>` and a NUL byte, and expects the cross-domain
 * policy XML and a NUL byte back.
 *
 * This module answers that request twice over: a standalone listener
 * (`webim flash-policy`, usually on port 843) and a first-byte
 * demultiplexer in front of the HTTP server, which hands every connection
 * that does not start with `<` to HTTP untouched.
 */
import type { Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

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

/**
 * Judges the bytes received so far: a verdict, or undefined while they are
 * still the start of a proper request. Anything that stops matching is
 * refused at once instead of waiting out the deadline.
 */
export function classifyRequest(received: Buffer, maxBytes: number): 'ok' | 'invalid' | 'oversize' | undefined {
  if (received.length > maxBytes) return 'oversize';
  const n = Math.min(received.length, POLICY_REQUEST.length);
  if (received.compare(POLICY_REQUEST, 0, n, 0, n) !== 0) return 'invalid';
  if (received.length < POLICY_REQUEST.length) return undefined;
  // Bytes after the NUL are not part of any request Flash sends.
  return received.length === POLICY_REQUEST.length ? 'ok' : 'invalid';
}

/** Reads one policy request from `socket` (`first`: bytes already read from it), within the limits. Never rejects. */
export function readPolicyRequest(
  socket: Socket,
  first: Buffer | undefined,
  limits: Pick<PolicyLimits, 'timeoutMs' | 'maxBytes'>,
): Promise<RequestOutcome> {
  return new Promise((resolve) => {
    let received: Buffer = Buffer.alloc(0);
    let settled = false;
    const done = (outcome: RequestOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('close', onEnd);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      // classifyRequest refuses anything longer than the request, so this never grows past one chunk.
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const outcome = classifyRequest(received, limits.maxBytes);
      if (outcome !== undefined) done(outcome);
    };
    const onEnd = (): void => done('closed');
    // A client dripping one byte at a time gets no more time than a silent one.
    const timer = setTimeout(() => done('timeout'), limits.timeoutMs);
    socket.on('data', onData).once('end', onEnd).once('close', onEnd);
    if (first !== undefined) onData(first);
  });
}

export type OutcomeListener = (outcome: RequestOutcome | 'busy', remoteAddress: string | undefined) => void;

/** Serves policy requests on sockets it is handed, at most `maxConnections` at once. */
class PolicyResponder {
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly response: () => Buffer,
    private readonly limits: Partial<PolicyLimits>,
    private readonly onOutcome?: OutcomeListener,
  ) {}

  handle(socket: Socket, first?: Buffer): void {
    const limits = { ...policyLimits, ...this.limits };
    const remote = socket.remoteAddress;
    // Resets and timeouts are routine for this throwaway exchange; the outcome is reported below.
    socket.on('error', () => socket.destroy());
    if (this.sockets.size >= limits.maxConnections) {
      socket.destroy();
      this.onOutcome?.('busy', remote);
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    void readPolicyRequest(socket, first, limits).then((outcome) => {
      this.onOutcome?.(outcome, remote);
      if (outcome !== 'ok' || socket.destroyed) {
        socket.destroy();
        return;
      }
      // A peer that neither reads nor closes must not keep the descriptor once the answer is out (or stuck).
      const cut = setTimeout(() => socket.destroy(), limits.timeoutMs);
      socket.once('close', () => clearTimeout(cut));
      socket.once('finish', () => socket.destroy());
      socket.end(this.response());
    });
  }

  closeAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

export interface PolicyServerOptions {
  domains: readonly string[];
  ports: readonly string[];
  limits?: Partial<PolicyLimits>;
  onOutcome?: OutcomeListener;
}

export interface PolicyServer {
  server: Server;
  /** Resolves to the bound address once listening. */
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stops listening and cuts the connections still being served. */
  close(): Promise<void>;
}

/** The standalone listener of `webim flash-policy`. */
export function createPolicyServer(opts: PolicyServerOptions): PolicyServer {
  const response = policyResponse(opts.domains, opts.ports);
  const responder = new PolicyResponder(() => response, opts.limits ?? {}, opts.onOutcome);
  // allowHalfOpen: a client that sends its request and its FIN together still gets the answer.
  const server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => responder.handle(socket));
  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address();
          if (addr === null || typeof addr === 'string') reject(new Error('policy listener is not on TCP'));
          else resolve(addr);
        });
      });
    },
    close() {
      return new Promise((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        responder.closeAll();
      });
    },
  };
}

export interface FirstByteOptions {
  /** ms a new connection may stay silent before it is closed: the HTTP header timeout. */
  firstByteTimeout: number;
  /** The policy answer; asked for at each policy request (the port may be known only once listening). */
  response: () => Buffer;
  limits?: Partial<PolicyLimits>;
  onOutcome?: OutcomeListener;
}

export interface FirstByteDemux {
  /** Cuts silent and policy connections; later connections go straight to HTTP. */
  close(): void;
}

type ConnectionListener = (this: HttpServer, socket: Socket) => void;

/**
 * Puts a first-byte switch in front of the HTTP server's own connection
 * handling: `<` starts a policy request, anything else is unshifted and
 * handed to HTTP as if it had just been accepted.
 *
 * Why not a separate net.Server in front of a Fastify server that does not
 * listen: Node starts the HTTP server's connection tracking on its
 * 'listening' event, so a server that never listens enforces neither
 * headersTimeout nor requestTimeout, and closeIdleConnections (which
 * http.Server.close calls so that closing does not wait out idle keep-alive
 * sockets) does nothing; `server.address()` would be null too. Here the HTTP server listens as usual and only its 'connection'
 * listeners (Node's own parser setup) are moved behind the switch.
 */
export function demuxFirstByte(server: HttpServer, opts: FirstByteOptions): FirstByteDemux {
  // Listeners added after this point see every connection first; none of webim's do.
  const httpListeners = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');
  const toHttp = (socket: Socket): void => {
    for (const listener of httpListeners) listener.call(server, socket);
  };
  const responder = new PolicyResponder(opts.response, opts.limits ?? {}, opts.onOutcome);
  const pending = new Set<Socket>();
  let closed = false;

  server.on('connection', (socket: Socket) => {
    if (closed) {
      toHttp(socket);
      return;
    }
    pending.add(socket);
    // A reset before the first byte is routine; unhandled, it would take the process down.
    const onError = (): void => {
      socket.destroy();
    };
    // Stock Node gives a silent connection headersTimeout too; this one is not HTTP's yet, so it is timed here.
    const timer = setTimeout(() => socket.destroy(), opts.firstByteTimeout);
    const settle = (): void => {
      clearTimeout(timer);
      pending.delete(socket);
      socket.off('data', onData).off('close', settle).off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      settle();
      if (chunk[0] === 0x3c /* < */) {
        responder.handle(socket, chunk);
        return;
      }
      socket.pause();
      socket.unshift(chunk);
      toHttp(socket);
      // The HTTP parser now reads new bytes straight from the handle, but the
      // unshifted chunk only reaches it as a 'data' event: let it flow.
      socket.resume();
    };
    socket.on('data', onData).once('close', settle).on('error', onError);
  });

  return {
    close() {
      closed = true;
      for (const socket of pending) socket.destroy();
      responder.closeAll();
    },
  };
}

export interface FlashPolicyInlineOptions {
  domains: readonly string[];
  /** Ports the policy allows; empty: the server's own port. */
  ports: readonly string[];
  /** The HTTP header timeout, applied to connections that have sent nothing yet. */
  firstByteTimeout: number;
}

function ownPort(server: HttpServer): number {
  const addr = server.address();
  return addr !== null && typeof addr === 'object' ? addr.port : 0;
}

/**
 * The inline policy on the main port. Fastify binds extra servers of its
 * own when the host resolves to several addresses (`localhost`); only the
 * first one answers policy requests, the others serve HTTP alone.
 */
async function flashPolicyInline(app: FastifyInstance, opts: FlashPolicyInlineOptions): Promise<void> {
  let response: Buffer | undefined;
  const demux = demuxFirstByte(app.server, {
    firstByteTimeout: opts.firstByteTimeout,
    response: () =>
      (response ??= policyResponse(opts.domains, opts.ports.length > 0 ? opts.ports : [String(ownPort(app.server))])),
    onOutcome: (outcome, ip) => app.log.debug({ outcome, ip }, 'flash policy request'),
  });
  // Silent and policy sockets are not HTTP's: without this, closing would wait for them (up to the header timeout).
  // preClose hooks run in registration order; registered after the transports, this one runs after their
  // shutdown grace, so a client that connects during the grace is still served.
  app.addHook('preClose', async () => demux.close());
}

export default fp(flashPolicyInline, { name: 'webim-flash-policy', fastify: '5.x' });
