/**
 * The SockJS transport (docs/protocol.md section 1): sockjs-node mounted under
 * `/sockjs` on Fastify's own HTTP server, so that every sockjs-client 1.x
 * transport reaches the chat on the same port (websocket, xhr/xdr-streaming,
 * eventsource, the iframe ones, xhr/xdr/iframe-polling, jsonp-polling). A
 * SockJS session is one connection to the core; a SockJS message is one
 * protocol message.
 *
 * sockjs-node trusts whoever talks to it; a guard in front of it closes what
 * it leaves open (sections 6 and 7 of the protocol):
 * - request bodies (`xhr_send`, `jsonp_send`) are read here, capped at the
 *   message size (413), and only then handed to sockjs, which would
 *   otherwise buffer any amount;
 * - browser origins are checked like on every transport (403; a WebSocket
 *   upgrade is refused), and the iframe page may only be framed by allowed
 *   origins, since its postMessage bridge would otherwise let any page in;
 * - an `Upgrade` to anything but a SockJS WebSocket endpoint is answered and
 *   the socket destroyed: sockjs would write to it after ending it, and Node
 *   has removed its error listener from upgrade sockets, so that crashed
 *   the process;
 * - a new session over the per-IP cap is refused (429) before it opens;
 * - the iframe page is webim's own (sockjs-iframe.ts): sockjs-node's
 *   breaks in a browser without native JSON.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { PassThrough } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import sockjs from 'sockjs';
import type { Connection, ServerOptions } from 'sockjs';
import { claimedOrigin } from '../src/common/origin.js';
import type { ForwardedRequest, ProxyTrust } from '../src/common/proxy-trust.js';
import { type BatchableSession, flushNow, memoizeQuote, queueFrame } from './sockjs-batch.js';
import { iframePage, serveIframe } from './sockjs-iframe.js';
import { reserialize, type Transport, type TransportHost } from '../src/core/transport.js';

/** sockjs-node's readyState of an open session (transport.js). */
const OPEN = 1;
/** Paths whose first request opens a session: `<server>/<session>/<transport>`. */
const SESSION_PATH = /^\/([^/.]+)\/([^/.]+)\/([a-z_]+)\/?$/;
const OPENING = new Set(['xhr', 'xhr_streaming', 'eventsource', 'htmlfile', 'jsonp', 'websocket']);
const IFRAME_PATH = /^\/iframe[0-9-.a-z_]*\.html$/;
const CSP_SOURCE = /^[a-z][a-z0-9+.-]*:\/\/[^\s;,'"]+$/i;
/** sockjs-client's browser builds, served from the installed package (not copied into the repository). */
const CLIENT_FILES: Record<string, string> = {
  'sockjs.min.js': 'application/javascript; charset=utf-8',
  'sockjs.js': 'application/javascript; charset=utf-8',
  'sockjs.min.js.map': 'application/json; charset=utf-8',
  'sockjs.js.map': 'application/json; charset=utf-8',
};

export interface SockJSOptions {
  host: TransportHost;
  /** Where sockjs is mounted, e.g. `/sockjs`. */
  path: string;
  /** Bytes in one SockJS message, WebSocket frame or send body. */
  maxMessageSize: number;
  heartbeat: number;
  disconnectDelay: number;
  responseLimit: number;
  /** On shutdown, ms to let sessions take their `bye` before they are cut. */
  closeGrace: number;
  /** The URL users reach the server at, if behind a proxy: the iframe page loads sockjs-client from there. */
  publicUrl: string;
  /** The configured allowed origins: the iframe page may be framed by these (and its own). */
  allowedOrigins: readonly string[];
  originAllowed(origin: string, req: { headers: IncomingHttpHeaders; protocol: 'http' | 'https' }): boolean;
  /** The `--trust-proxy` rule: the client address and scheme behind a trusted proxy, as Fastify reads them for the other transports. */
  trust?: Pick<ProxyTrust, 'clientAddress' | 'protocol'>;
}

/**
 * The slice of sockjs-node 0.3 internals this file reads: a session's send
 * buffer and its current receiver (the open HTTP response or WebSocket),
 * for bufferedAmount and for cutting sessions at shutdown. sockjs exposes
 * neither; every field is optional so another version degrades to 0 and to
 * waiting for its own timers.
 */
interface SessionInternals extends BatchableSession {
  send_buffer?: string[];
  recv?: {
    response?: { writableLength?: number; socket?: Duplex | null } | null;
    connection?: Duplex & { writableLength?: number } | null;
  } | null;
  didTimeout?(): void;
}

function internals(conn: Connection): SessionInternals | undefined {
  return (conn as unknown as { _session?: SessionInternals })._session;
}

/** Bytes the open response or WebSocket of a session has not written out yet. */
function unwritten(session: SessionInternals): number {
  const recv = session.recv;
  return recv?.response?.writableLength ?? recv?.connection?.writableLength ?? 0;
}

class SockJSTransport implements Transport {
  readonly name = 'sockjs' as const;
  /** The send buffer array whose text is counted in `queued`; sockjs swaps in a new array when it flushes. */
  private counted: string[] | undefined;
  private queued = 0;

  constructor(
    private readonly conn: Connection,
    readonly remoteAddress: string,
  ) {}

  send(frame: string): void {
    if (this.conn.readyState !== OPEN) return;
    if (!queueFrame(internals(this.conn), frame)) this.conn.write(frame);
    const buffer = internals(this.conn)?.send_buffer;
    if (buffer !== undefined && buffer === this.counted) this.queued += frame.length;
  }

  close(code: number, reason: string): void {
    // The raw WebSocket endpoint hands the code to faye-websocket, which throws (into the core) for any but 1000 and
    // 3000-4999, the browser API's rule; the `bye` sent just before already says why.
    // sockjs writes its close frame straight out: what this tick queued (the `bye`) goes first.
    flushNow(internals(this.conn));
    const usable = this.conn.protocol !== 'websocket-raw' || code === 1000 || (code >= 3000 && code <= 4999);
    // @types/sockjs types the code as a string, but sockjs writes it into the close frame as given and clients expect a number.
    (this.conn as unknown as { close(code: number, reason: string): boolean }).close(usable ? code : 1000, reason);
  }

  /** Text waiting for the client's next request, plus bytes the open response or WebSocket has not written out. */
  bufferedAmount(): number {
    const session = internals(this.conn);
    if (!session) return 0;
    const buffer = session.send_buffer;
    if (buffer !== this.counted) {
      this.counted = buffer;
      this.queued = 0;
      for (const text of buffer ?? []) this.queued += text.length;
    }
    return this.queued + unwritten(session);
  }
}

/**
 * Serves sockjs-client under `/polyfills/`, so that pages and the iframe
 * transports need no CDN; returns the URL the iframe page loads it from.
 * The iframe's copy must be the very version the page uses (sockjs-client
 * refuses a mismatch), which serving the one installed copy guarantees.
 */
function serveClient(app: FastifyInstance, publicUrl: string): string {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('sockjs-client/dist/sockjs.min.js'));
  const { version } = require('sockjs-client/package.json') as { version: string };
  for (const [file, type] of Object.entries(CLIENT_FILES)) {
    const path = join(dir, file);
    // The source maps are a convenience; the scripts themselves must be there.
    if (file.endsWith('.map') && !existsSync(path)) continue;
    const body = readFileSync(path);
    const etag = `"sockjs-client-${version}-${file}"`;
    app.get(`/polyfills/${file}`, async (req, reply) => {
      void reply.header('ETag', etag).header('Cache-Control', 'public, max-age=86400').header('X-Content-Type-Options', 'nosniff');
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type(type).send(body);
    });
  }
  return publicUrl === '' ? '/polyfills/sockjs.min.js' : new URL('polyfills/sockjs.min.js', publicUrl).href;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function refuse(res: ServerResponse, status: number, error: string, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ error, message }));
}

/** Answers an upgrade we will not take, then drops the socket (there is no HTTP server behind it any more). */
function refuseUpgrade(socket: Duplex, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** A stand-in request carrying a body already read (and measured) here, for sockjs to read again. */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = new PassThrough();
  copy.end(body);
  // sockjs reads only these of a request whose body it parses (it writes its parsed URL onto the object).
  const fields = { url: req.url, method: req.method, headers: req.headers, httpVersion: req.httpVersion, socket: req.socket, connection: req.socket };
  return Object.assign(copy, fields) as unknown as IncomingMessage;
}

type RequestListener = (this: Server, req: IncomingMessage, res: ServerResponse) => void;
type UpgradeListener = (this: Server, req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Takes back the one listener sockjs's installHandlers left on `event` (it wraps and falls through to the earlier ones). */
function takeOver<L>(server: Server, event: 'request' | 'upgrade'): L {
  const listeners = server.listeners(event);
  if (listeners.length !== 1) throw new Error(`sockjs left ${listeners.length} '${event}' listeners, expected its one`);
  server.removeAllListeners(event);
  // Node types listeners as Function; this one is sockjs's (req, res|socket, head) wrapper.
  return listeners[0] as unknown as L;
}

async function sockjsTransport(app: FastifyInstance, opts: SockJSOptions): Promise<void> {
  const clientUrl = serveClient(app, opts.publicUrl);
  const page = iframePage(clientUrl, opts.publicUrl === '' ? '/polyfills/json3.min.js' : new URL('polyfills/json3.min.js', opts.publicUrl).href);
  const prefix = opts.path.replace(/\/+$/, '');
  const ours = new RegExp(`^${escapeRegExp(prefix)}([/].+|[/]?)$`);
  const log = app.log.child({ transport: 'sockjs' });
  const serverOptions: ServerOptions & { faye_server_options: { maxLength: number } } = {
    prefix,
    sockjs_url: clientUrl,
    heartbeat_delay: opts.heartbeat,
    disconnect_delay: opts.disconnectDelay,
    response_limit: opts.responseLimit,
    // A WebSocket frame over the limit closes the session with 1009, as on /ws.
    faye_server_options: { maxLength: opts.maxMessageSize },
    log: (severity, line) => log.debug({ severity }, line),
  };
  const sjs = sockjs.createServer(serverOptions);
  memoizeQuote();
  const clientAddress = (req: ForwardedRequest): string => opts.trust?.clientAddress(req) ?? req.socket?.remoteAddress ?? '';
  const protocolOf = (req: IncomingMessage): 'http' | 'https' => opts.trust?.protocol(req) ?? ((req.socket as TLSSocket).encrypted ? 'https' : 'http');

  const sessions = new Set<string>();
  const live = new Set<Connection>();
  sjs.on('connection', (conn: Connection | null) => {
    // sockjs emits null for a session that ended before its open event ran.
    if (!conn) return;
    // sockjs keeps the peer address and X-Forwarded-For of the request that opened the session.
    const ip = clientAddress({ headers: conn.headers, socket: { remoteAddress: conn.remoteAddress } });
    const sid = SESSION_PATH.exec((conn.url ?? '').split('?', 1)[0]?.slice(prefix.length) ?? '')?.[2];
    if (sid !== undefined) sessions.add(sid);
    live.add(conn);
    const handler = opts.host.attach(new SockJSTransport(conn, ip), { ip, userAgent: conn.headers['user-agent'], headers: conn.headers });
    conn.on('data', (message: unknown) => {
      // sockjs-client sends strings; a hand-made frame element that is other JSON goes to the core re-serialized, to be judged there.
      handler.message(typeof message === 'string' ? message : reserialize(message));
    });
    conn.on('close', () => {
      if (sid !== undefined) sessions.delete(sid);
      live.delete(conn);
      handler.closed();
    });
  });

  const frameAncestors = opts.allowedOrigins.includes('*')
    ? undefined
    : ["'self'", ...opts.allowedOrigins.map((o) => o.trim().replace(/\/+$/, '')).filter((o) => CSP_SOURCE.test(o))].join(' ');

  const pathOf = (req: IncomingMessage): string => (req.url ?? '').split(/[?#]/, 1)[0]?.slice(prefix.length) ?? '';
  /** Whether this request would open a new session (a poll of a known one does not). */
  const opensSession = (path: string): boolean => {
    if (/^\/websocket\/?$/.test(path)) return true;
    const m = SESSION_PATH.exec(path);
    return m !== null && OPENING.has(m[3] ?? '') && !sessions.has(m[2] ?? '');
  };

  /** The checks every request and upgrade under the prefix passes first; false when it was answered here. */
  const admitted = (req: IncomingMessage, refuseWith: (status: number, error: string, message: string) => void): boolean => {
    // By Referer where the browser sends no Origin: jsonp-polling's script tags, old IE.
    const origin = claimedOrigin(req.headers);
    if (origin !== undefined && !opts.originAllowed(origin, { headers: req.headers, protocol: protocolOf(req) })) {
      refuseWith(403, 'forbidden', 'origin not allowed');
      return false;
    }
    // Refused before sockjs opens a session; one that slips past (a race) gets the core's bye from attach.
    if (opensSession(pathOf(req)) && !opts.host.admits(clientAddress(req))) {
      refuseWith(429, 'rate_limited', 'too many connections from this address');
      return false;
    }
    return true;
  };

  const onRequest = (toSockjs: RequestListener, server: Server) => (req: IncomingMessage, res: ServerResponse) => {
    if (!ours.test(req.url ?? '')) return toSockjs.call(server, req, res);
    if (!admitted(req, (status, error, message) => refuse(res, status, error, message))) return;
    const iframe = IFRAME_PATH.test(pathOf(req));
    if (frameAncestors !== undefined && iframe) res.setHeader('Content-Security-Policy', `frame-ancestors ${frameAncestors}`);
    if (iframe && (req.method === 'GET' || req.method === 'HEAD')) return serveIframe(req, res, page);
    if (req.method !== 'POST') return toSockjs.call(server, req, res);
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > opts.maxMessageSize) return refuse(res, 413, 'too_large', 'request body too large');
    if (!(declared > 0) && req.headers['transfer-encoding'] === undefined) return toSockjs.call(server, req, res);
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size <= opts.maxMessageSize) return void chunks.push(chunk);
      // The rest is read and dropped by this listener, so the connection can serve its next request.
      over = true;
      chunks.length = 0;
      refuse(res, 413, 'too_large', 'request body too large');
    });
    req.on('end', () => {
      if (!over) toSockjs.call(server, replay(req, Buffer.concat(chunks)), res);
    });
    req.on('error', (err) => log.debug({ err }, 'sockjs request body failed'));
  };

  const onUpgrade = (toSockjs: UpgradeListener, server: Server) => (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!ours.test(req.url ?? '')) return toSockjs.call(server, req, socket, head);
    // Node took its error listener off this socket before 'upgrade'; a reset must not become an uncaught error.
    socket.on('error', (err) => {
      log.debug({ err }, 'sockjs upgrade socket failed');
      socket.destroy();
    });
    if (!admitted(req, (status, error, message) => refuseUpgrade(socket, status, error, message))) return;
    const path = pathOf(req);
    const session = SESSION_PATH.exec(path);
    if (!/^\/websocket\/?$/.test(path) && session?.[3] !== 'websocket') return refuseUpgrade(socket, 404, 'not_found', 'not a SockJS WebSocket endpoint');
    if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return refuseUpgrade(socket, 400, 'bad_request', 'not a WebSocket upgrade');
    return toSockjs.call(server, req, socket, head);
  };

  // installHandlers puts sockjs in front of the listeners that exist now: wait until every plugin (the /ws upgrade one included) has added its own.
  app.addHook('onReady', async () => {
    const server = app.server;
    sjs.installHandlers(server);
    server.on('request', onRequest(takeOver<RequestListener>(server, 'request'), server));
    server.on('upgrade', onUpgrade(takeOver<UpgradeListener>(server, 'upgrade'), server));
  });

  app.addHook('preClose', async () => {
    // The core has said `bye` (hub.shutdown); let polling clients come for it, then cut what is left.
    const deadline = Date.now() + opts.closeGrace;
    const waiting = (conn: Connection) => {
      const session = internals(conn);
      return conn.readyState === OPEN || (session !== undefined && ((session.send_buffer?.length ?? 0) > 0 || unwritten(session) > 0));
    };
    while ([...live].some(waiting) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const conn of [...live]) {
      const session = internals(conn);
      const socket = session?.recv?.response?.socket ?? session?.recv?.connection;
      if (socket) socket.destroy();
      else if (session?.didTimeout) {
        // No request open: end the session now rather than let its disconnect timer hold the process.
        try {
          session.didTimeout();
        } catch (err) {
          log.debug({ err }, 'sockjs session already ended');
        }
      }
    }
  });
}

export default fp(sockjsTransport, { name: 'webim-sockjs', fastify: '5.x' });
