/**
 * The one interface every transport implements (WebSocket, Comet, SockJS),
 * and the one the core offers them. It lives with the core, which defines
 * what it needs of a transport: transports depend on it, the core depends
 * on no transport (docs/architecture.md, "Import rules").
 *
 * A transport moves bytes; the chat core owns everything else. The core
 * only ever calls `send`, `close` and, where the transport has one, `ping`:
 * heartbeats, limits, sessions and presence live in the core, so a user on
 * long-poll is indistinguishable from one on WebSocket.
 *
 * What arrives travels the other way: a transport hands every message it
 * receives, its pongs, and the moment it closed to the `TransportHandler`
 * that the core returned from `TransportHost.attach`.
 */

export type TransportName = 'websocket' | 'comet' | 'sockjs';

/**
 * One server message, serialized once and handed as this same object to
 * every connection it is for (a room's members, a user's devices). A
 * transport that encodes frames (the WebSocket framing) keeps its
 * encoding on it, so a broadcast to ten thousand sockets is encoded once;
 * the others write `text`.
 */
export class OutFrame {
  /** The WebSocket frame of `text` (header and payload), built by the first socket that writes it. */
  wire: Buffer | undefined = undefined;
  constructor(readonly text: string) {}
}

export interface Transport {
  readonly name: TransportName;
  /** Client address as the core should count it for per-IP limits. */
  readonly remoteAddress: string;
  /**
   * Queue one serialized protocol message (a JSON object as text). Must not
   * throw once the transport is closed: a late send is dropped.
   */
  send(frame: string): void;
  /**
   * Queue a frame built once for many connections: a transport that
   * encodes (WebSocket) reuses the encoding kept on it. Without this
   * method the core calls `send` with the frame's text.
   */
  sendFrame?(frame: OutFrame): void;
  /**
   * End the connection after what was already queued is written. `code`
   * is a WebSocket close code (other transports may ignore it).
   */
  close(code: number, reason: string): void;
  /** Bytes (or frame text length) queued and not yet taken by the client. */
  bufferedAmount(): number;
  /**
   * Transport-level liveness probe. Present when the transport has one
   * (a WebSocket ping frame); the transport answers through
   * `TransportHandler.pong`. Absent for transports whose sessions expire
   * on their own (Comet), which then never get a heartbeat timeout.
   */
  ping?(): void;
}

export interface TransportHandler {
  /** One client message, as received (text of one JSON object). */
  message(data: string): void;
  /** The peer answered a `ping`, or otherwise proved it is alive. */
  pong(): void;
  /** The connection is gone, whoever ended it. Called once. */
  closed(): void;
}

/** What the core offers transports: one entry point per new connection. */
export interface TransportHost {
  attach(transport: Transport, info: ConnectionInfo): TransportHandler;
  /** Whether a new connection from this address would be accepted, for transports that can refuse before opening one. */
  admits(ip: string): boolean;
}

export interface ConnectionInfo {
  ip: string;
  origin?: string;
  userAgent?: string;
  /** The request's headers (the WebSocket upgrade, a Comet session's first request, what sockjs keeps): the login hook may be shown some. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * A message that a transport received already parsed (an element of a
 * Comet send array or a SockJS send body), back to text for the core.
 * Parsed JSON has no cycles, so JSON.stringify throws only on nesting too
 * deep for V8's stack (~10,000 arrays fit in 64 KiB): the core gets a
 * non-object instead, answers it with `bad_request`, and the messages
 * after it in the same body still go through.
 */
export function reserialize(message: unknown): string {
  try {
    return JSON.stringify(message);
  } catch {
    return 'null';
  }
}
