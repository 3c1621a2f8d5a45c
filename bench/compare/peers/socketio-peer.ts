/**
 * Socket.IO 4 as a chat server would use it: `join` (acknowledged) puts
 * the socket in a room, `msg` (room, body) goes to the room with
 * io.to(room).emit, which encodes the packet once for all members.
 * WebSocket and HTTP long-polling both allowed, compression off on both;
 * the client picks the transport.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { listenForBench } from '../../harness/serve-bench.js';
import { broadcastText } from './peer-rooms.js';

const http = createServer();
const io = new Server(http, {
  transports: ['polling', 'websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  // The default; written out because the long-poll bench holds polls for less than the ping cycle.
  pingInterval: 25_000,
  serveClient: false,
});

io.on('connection', (socket) => {
  socket.on('join', (room: unknown, ack: unknown) => {
    if (typeof room !== 'string') return;
    void socket.join(room);
    if (typeof ack === 'function') ack(room);
  });
  socket.on('msg', (room: unknown, body: unknown) => {
    if (typeof room !== 'string' || typeof body !== 'string') return;
    // The same JSON text the other peers send, so every server puts the same bytes on the wire.
    io.to(room).emit('msg', broadcastText(room, body));
  });
});

listenForBench(http, async () => {
  await io.close();
});
