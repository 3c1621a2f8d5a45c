import { once } from 'node:events';
import type { Socket } from 'node:net';
import Fastify from 'fastify';
import t from 'tap';
import WebSocket from 'ws';
import type { ConnectionInfo, Transport, TransportHandler, TransportHost } from '../src/core/transport.js';
import websocketTransport from '../transports/websocket.js';

/** A host that keeps the transports it is given and ignores what they carry. */
class Host implements TransportHost {
  readonly transports: Transport[] = [];

  attach(transport: Transport, _info: ConnectionInfo): TransportHandler {
    this.transports.push(transport);
    return { message: () => undefined, pong: () => undefined, closed: () => undefined };
  }

  admits(): boolean {
    return true;
  }
}

t.test('an open WebSocket keeps nothing of its upgrade request', async (t) => {
  const host = new Host();
  const app = Fastify();
  await app.register(websocketTransport, { host, path: '/ws', maxPayload: 65536, closeGrace: 100, originAllowed: () => true });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  t.teardown(async () => {
    client.terminate();
    await app.close();
  });
  await once(client, 'open');
  const end = Date.now() + 2000;
  while (host.transports.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  // The transport's socket is private: read through a narrow cast, as the test's one look inside.
  const ws = (host.transports[0] as unknown as { ws: WebSocket & { _socket: Socket & { _httpMessage?: unknown } } }).ws;
  t.ok(ws, 'the server side of the connection');
  t.equal(ws.listenerCount('error'), 1, 'only webim\'s own error listener (the plugin\'s closed over the request and reply)');
  t.equal(ws._socket._httpMessage, null, 'the TCP socket no longer points at the upgrade\'s ServerResponse');

  // Listeners shared by every socket, not closures made per connection (about 0.3 KiB each, issue 8).
  const second = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  t.teardown(() => second.terminate());
  await once(second, 'open');
  while (host.transports.length < 2 && Date.now() < end + 2000) await new Promise((r) => setTimeout(r, 5));
  const ws2 = (host.transports[1] as unknown as { ws: WebSocket }).ws;
  for (const event of ['message', 'pong', 'close', 'error'] as const) {
    t.equal(ws2.listeners(event).at(-1), ws.listeners(event).at(-1), `one ${event} listener for both sockets`);
  }

  // Still a working connection: frames go out, errors still end it.
  const got = once(client, 'message');
  host.transports[0]?.send('{"cmd":"pong"}');
  t.equal(String((await got)[0]), '{"cmd":"pong"}');
});
