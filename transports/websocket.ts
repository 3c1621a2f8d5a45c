/**
 * The WebSocket transport (docs/protocol.md section 1): `GET /ws`, one JSON
 * object per text frame, on @fastify/websocket. It checks the origin before
 * the upgrade, adapts each socket to the Transport interface and leaves
 * everything else to the core.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { WebSocket, type RawData } from 'ws';
import type { OutFrame, Transport, TransportHandler, TransportHost } from '../src/core/transport.js';
import { writeFrame, writePing, writeText } from './ws-writer.js';

/** How long a closing socket may take to finish its close handshake before it is cut. */
const CLOSE_GRACE_MS = 5000;

export interface WebSocketOptions {
  host: TransportHost;
  path: string;
  maxPayload: number;
  /** On shutdown, ms to let sockets finish their close handshake after the core said `bye`. */
  closeGrace: number;
  /** Decides whether a browser origin may connect; a request without Origin is always let through. */
  originAllowed(origin: string, req: FastifyRequest): boolean;
}

class WebSocketTransport implements Transport {
  readonly name = 'websocket' as const;

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
  ) {}

  send(frame: string): void {
    if (this.ws.readyState === WebSocket.OPEN) writeText(this.ws, frame);
  }

  sendFrame(frame: OutFrame): void {
    if (this.ws.readyState === WebSocket.OPEN) writeFrame(this.ws, frame);
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(code, reason);
    // A dead or stalled peer never answers the close frame: do not let it hold the socket.
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) writePing(this.ws);
  }
}

const HANDLER = Symbol('webim.handler');
type Handled = WebSocket & { [HANDLER]?: TransportHandler };

function onMessage(this: Handled, data: RawData): void {
  // Binary frames are not part of the protocol; read them as UTF-8 so the core answers bad_json.
  this[HANDLER]?.message(text(data));
}

function onPong(this: Handled): void {
  this[HANDLER]?.pong();
}

function onError(this: WebSocket): void {
  this.terminate();
}

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/**
 * Lets go of the upgrade request for the connection's lifetime (issue 8:
 * about 3 KiB of an idle connection's heap). @fastify/websocket's error
 * listener closes over the Fastify request and reply, and the TCP socket
 * still points at the ServerResponse it was assigned for the upgrade, which
 * holds the IncomingMessage with its headers; webim reads all it needs from
 * the request before this (address, origin) and has its own error listener.
 */
function forgetUpgrade(socket: WebSocket, req: FastifyRequest): void {
  socket.removeAllListeners('error');
  // Absent when the request is not a real HTTP one (@fastify/websocket's injectWS).
  const raw = req.raw.socket as (Socket & { _httpMessage?: ServerResponse | null }) | undefined;
  // Node's ServerResponse.detachSocket clears the socket's `_httpMessage`; undocumented but stable since Node 0.x.
  if (raw) raw._httpMessage?.detachSocket(raw);
}

async function websocketTransport(app: FastifyInstance, opts: WebSocketOptions): Promise<void> {
  await app.register(websocket, {
    options: { maxPayload: opts.maxPayload, perMessageDeflate: false, clientTracking: false },
  });

  const checkOrigin = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const origin = req.headers.origin;
    if (origin !== undefined && !opts.originAllowed(origin, req)) {
      await reply.code(403).send({ error: 'forbidden', message: 'origin not allowed' });
    }
  };

  // @fastify/websocket completes the handshake on every route, then closes a socket whose route has no WebSocket
  // handler: refuse those upgrades before the 101, as SockJS refuses its unknown paths.
  const wsRoutes = new Set<string>();
  app.addHook('onRoute', (route) => {
    if (route.websocket === true || route.wsHandler !== undefined) wsRoutes.add(route.url);
  });
  app.addHook('onRequest', async (req, reply) => {
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return;
    if (req.routeOptions.url !== undefined && wsRoutes.has(req.routeOptions.url)) return;
    await reply.code(404).header('Connection', 'close').send({ error: 'not_found', message: 'no WebSocket endpoint here' });
  });

  const sockets = new Set<Handled>();
  app.addHook('preClose', async () => {
    const deadline = Date.now() + opts.closeGrace;
    while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const socket of sockets) socket.terminate();
  });
  // Shared by every socket (each finds its handler on itself): closures per socket were about 0.3 KiB of an idle
  // connection (issue 8).
  function onClose(this: Handled): void {
    sockets.delete(this);
    this[HANDLER]?.closed();
  }

  app.get(opts.path, { websocket: true, preValidation: checkOrigin }, (ws, req) => {
    const socket = ws as Handled;
    sockets.add(socket);
    const transport = new WebSocketTransport(socket, req.ip);
    socket[HANDLER] = opts.host.attach(transport, {
      ip: req.ip,
      origin: req.headers.origin,
      userAgent: req.headers['user-agent'],
      headers: req.headers,
    });
    forgetUpgrade(socket, req);
    socket.on('message', onMessage);
    socket.on('pong', onPong);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}

export default fp(websocketTransport, { name: 'webim-websocket', fastify: '5.x' });
