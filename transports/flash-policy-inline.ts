/**
 * The Flash policy on the HTTP port (`--flash-policy-inline`): a
 * first-byte demultiplexer in front of the HTTP server hands a connection
 * whose first byte is `<` to the policy responder and every other one to
 * HTTP untouched, and a Fastify plugin puts it in front of the app's server.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { type PolicyLimits, policyResponse } from '../src/common/flash-policy.js';
import { type OutcomeListener, PolicyResponder } from './flash-policy-request.js';

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
