/**
 * The hot path of WebSocket delivery (issue 8). Profiling a room fan-out
 * found the server spending most of its time framing the same text once
 * per socket (ws's `send` encodes and frames per call) and in one `writev`
 * per frame per socket. Here a broadcast is framed once, on the OutFrame
 * the core hands every recipient (src/core/transport.ts), and the same
 * Buffer is written to every socket; a socket is corked for the rest of
 * the tick, so a batch of frames (a group commit's messages, a login's
 * replay) leaves in one write.
 *
 * It writes to ws's own socket, behind ws's back, which is sound only while
 * ws has nothing queued (its Sender queues only while compressing or
 * reading a Blob; webim turns compression off and sends no Blobs): then
 * ws's own writes (pongs, the close frame) and ours share the socket's one
 * buffer in call order, and ws's `bufferedAmount` counts ours. When that
 * does not hold, the caller falls back to `ws.send`.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { OutFrame } from '../src/core/transport.js';

/** The slice of ws internals this file relies on (ws 8: lib/websocket.js and lib/sender.js). */
interface WsInternals {
  _socket?: Duplex | null;
  _sender?: { _queue?: unknown[]; _state?: number } | null;
}

/** FIN set, opcode 1 (text): a whole text message in one frame (RFC 6455 section 5.2). */
const FIN_TEXT = 0x81;
/** Past this much corked in one tick, the socket is flushed at once, so its buffered amount (the slow-consumer check) stays true. */
const FLUSH_AT = 64 * 1024;

/**
 * The whole frame (header and payload in one Buffer) of a text message,
 * built in one allocation (a server's frames are unmasked, so the header
 * is 2, 4 or 10 bytes of length): ws's Sender.frame would take a Buffer of
 * the payload and a second one to join header and payload, which for a
 * one-off frame such as a `login` answer doubles the garbage.
 */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = FIN_TEXT;
  if (header === 2) {
    frame[1] = length;
  } else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, header, 'utf8');
  return frame;
}

const corked: Duplex[] = [];
let flushQueued = false;

function uncorkAll(): void {
  flushQueued = false;
  // Uncorking a socket that was flushed early (FLUSH_AT) is a no-op: its count is back at zero.
  for (const socket of corked) socket.uncork();
  corked.length = 0;
}

/** ws's socket, when writing to it directly keeps ws's order; undefined otherwise. */
function rawSocket(ws: WebSocket): Duplex | undefined {
  const internals = ws as unknown as WsInternals;
  const sender = internals._sender;
  const socket = internals._socket;
  if (!socket || !sender || (sender._queue?.length ?? 0) > 0 || (sender._state ?? 0) !== 0) return undefined;
  return socket;
}

/** Writes a text message to an open WebSocket, corked until the end of the tick. */
export function writeText(ws: WebSocket, text: string): void {
  const socket = rawSocket(ws);
  if (!socket || socket.destroyed) ws.send(text);
  else writeCorked(socket, textFrame(text));
}

/** Writes a frame many sockets share: framed by the first of them, the same bytes for the rest. */
export function writeFrame(ws: WebSocket, frame: OutFrame): void {
  const socket = rawSocket(ws);
  if (!socket || socket.destroyed) ws.send(frame.text);
  else writeCorked(socket, (frame.wire ??= textFrame(frame.text)));
}

/** An empty ping: FIN set, opcode 9, no payload, unmasked as a server's frames are (RFC 6455 section 5.5.2). */
const PING = Buffer.from([0x89, 0x00]);

/**
 * Pings an open WebSocket with one shared two-byte frame. ws's `ping`
 * builds its frame per call and writes it uncorked; with 10,000 idle
 * connections a heartbeat tick pings about 400 of them, and those ticks
 * held the event loop 16-31 ms each (issue 8, 2026-12-03).
 */
export function writePing(ws: WebSocket): void {
  const socket = rawSocket(ws);
  if (!socket || socket.destroyed) ws.ping();
  else writeCorked(socket, PING);
}

function writeCorked(socket: Duplex, frame: Buffer): void {
  if (socket.writableCorked === 0) {
    socket.cork();
    corked.push(socket);
    if (!flushQueued) {
      flushQueued = true;
      process.nextTick(uncorkAll);
    }
  }
  socket.write(frame);
  if (socket.writableLength > FLUSH_AT) socket.uncork();
}
