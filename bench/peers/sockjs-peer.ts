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
import { broadcastText, type PeerCommand, portArg, serveBench } from '../bench-ipc.js';

const rooms = new Map<string, Set<sockjs.Connection>>();
const service = sockjs.createServer({ log: () => undefined, prefix: '/sockjs' });

service.on('connection', (conn: sockjs.Connection | null) => {
  // sockjs emits null for a connection that closed during its handshake.
  if (!conn) return;
  const joined: Set<sockjs.Connection>[] = [];
  conn.on('data', (text: string) => {
    let cmd: PeerCommand;
    try {
      cmd = JSON.parse(text) as PeerCommand;
    } catch {
      return;
    }
    if (typeof cmd.join === 'string') {
      const set = rooms.get(cmd.join) ?? new Set<sockjs.Connection>();
      rooms.set(cmd.join, set);
      set.add(conn);
      joined.push(set);
      conn.write(JSON.stringify({ joined: cmd.join }));
    } else if (typeof cmd.room === 'string' && typeof cmd.body === 'string') {
      const members = rooms.get(cmd.room);
      if (!members) return;
      const text = broadcastText(cmd.room, cmd.body);
      for (const m of members) m.write(text);
    }
  });
  conn.on('close', () => {
    for (const set of joined) set.delete(conn);
  });
});

const http = createServer();
service.installHandlers(http);
http.listen(portArg(), '127.0.0.1', () => {
  const address = http.address();
  serveBench(typeof address === 'object' && address ? address.port : 0, async () => {
    http.close();
    http.closeAllConnections();
  });
});
