/**
 * The practical ceiling for Node: a bare `ws` broadcast server. A client
 * sends `{"join":R}` (answered `{"joined":R}`) or `{"room":R,"body":B}`;
 * the server builds the broadcast's WebSocket frame once and writes that
 * one Buffer to every member's socket, so the per-recipient cost is a
 * socket write and nothing else. No compression, no heartbeat (webim's
 * and the others' are far slower than a bench window).
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import WebSocket, { WebSocketServer } from 'ws';
import { listenForBench } from '../../harness/serve-bench.js';
import { PeerRooms } from './peer-rooms.js';

interface Member {
  ws: WebSocket;
  socket: Socket;
}

const rooms = new PeerRooms<Member>();
const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
/** ws's ESM entry exports its Sender (lib/sender.js), but @types/ws leaves it out: this is the one static we use. */
const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } }).Sender;

/** The whole frame in one Buffer: an unmasked text frame, final, built by ws's own framing code. */
function frameOf(text: string): Buffer {
  const parts = Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false });
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

function broadcast(members: ReadonlySet<Member>, text: string): void {
  const frame = frameOf(text);
  for (const m of members) if (m.ws.readyState === WebSocket.OPEN) m.socket.write(frame);
}

http.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    // The raw socket comes from the upgrade itself, so frames bypass ws's per-send framing without touching its internals.
    const me: Member = { ws, socket: socket as Socket };
    const member = rooms.member(me, (text) => ws.send(text), broadcast);
    ws.on('message', (data) => member.command(String(data)));
    ws.on('close', () => member.leave());
    ws.on('error', () => ws.terminate());
  });
});

listenForBench(http, async () => {
  http.close();
  http.closeAllConnections();
});
