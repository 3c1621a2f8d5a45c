/**
 * sockjs 0.3.24 as a chat server would use it: the same JSON commands as
 * the ws peer on a SockJS connection (any transport; the bench uses
 * websocket and xhr-polling), each broadcast written to every member with
 * conn.write, which is all sockjs's API offers (it frames and quotes per
 * connection). No compression, sockjs's default heartbeat and
 * disconnect delay.
 */
import { createServer } from 'node:http';
import sockjs from 'sockjs';
import { listenForBench } from '../../harness/serve-bench.js';
import { PeerRooms } from './peer-rooms.js';

const rooms = new PeerRooms<sockjs.Connection>();
const service = sockjs.createServer({ log: () => undefined, prefix: '/sockjs' });

service.on('connection', (conn: sockjs.Connection | null) => {
  // sockjs emits null for a connection that closed during its handshake.
  if (!conn) return;
  const member = rooms.member(
    conn,
    (text) => conn.write(text),
    (members, text) => {
      for (const m of members) m.write(text);
    },
  );
  conn.on('data', (text: string) => member.command(text));
  conn.on('close', () => member.leave());
});

const http = createServer();
service.installHandlers(http);
listenForBench(http, async () => {
  http.close();
  http.closeAllConnections();
});
