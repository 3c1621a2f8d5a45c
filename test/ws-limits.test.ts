/**
 * The limits of docs/protocol.md section 6 and the shutdown of section 2, as a
 * WebSocket client meets them: each answers with its error code or `bye`.
 */
import t from 'tap';
import WebSocket from 'ws';
import type { Msg } from './helpers/client.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login, sendText } from './scenarios/chat.js';

function rawSocket(url: string, opts: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws', opts);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function closeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

t.test('a frame over the message size limit closes the connection with 1009', async (t) => {
  const s = await startServer({ maxMessageSize: 2048 });
  t.teardown(() => s.close());
  const ws = await rawSocket(s.url);
  const closed = closeOf(ws);
  ws.send(JSON.stringify({ cmd: 'ping', pad: 'x'.repeat(4096) }));
  t.equal(await closed, 1009);
});

t.test('a message flood gets rate_limited, then bye', async (t) => {
  const s = await startServer({ rateLimit: 5, rateBurst: 10 });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const { c } = await login(connect, 'Flood');
  // login took one token of the burst of 10; twelve more at once must overflow it.
  for (let i = 0; i < 12; i++) c.send({ cmd: 'online' });
  t.equal((await c.next('error')).code, 'rate_limited', 'over the burst: rate_limited');
  const answered = await c.quiet('bye', 100);
  t.ok(answered, 'a short overflow does not close the connection');
  c.send({ cmd: 'ping' });
  await c.next('pong');
  for (let i = 0; i < 30; i++) c.send({ cmd: 'online' });
  const bye = await c.next('bye');
  t.match(bye, { code: 'rate_limited', reconnect: false });
  t.equal(await c.closed, 1008);
  const { c: other } = await login(connect, 'Calm');
  sendText(other, { room: 'lobby' }, 'others keep chatting');
  await other.next('ack');
});

t.test('connections over the per-IP cap get bye', async (t) => {
  const s = await startServer({ maxConnectionsPerIp: 3 });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const open = [await connect(), await connect(), await connect()];
  const fourth = await connect();
  t.match(await fourth.next('bye'), { code: 'too_many_connections' });
  await fourth.closed;
  open[0]?.close();
  await open[0]?.closed;
  await new Promise((r) => setTimeout(r, 50));
  const fifth = await connect();
  fifth.send({ cmd: 'ping', ts: 1 });
  t.equal((await fifth.next('pong')).ts, 1, 'a freed slot is usable again');
});

t.test('heartbeat: a peer that answers pings stays, a dead one is dropped', async (t) => {
  const s = await startServer({ heartbeatInterval: 150, heartbeatTimeout: 150 });
  t.teardown(() => s.close());
  const alive = await rawSocket(s.url);
  let pings = 0;
  alive.on('ping', () => pings++);
  const dead = await rawSocket(s.url, { autoPong: false });
  const deadClosed = closeOf(dead);
  const deadline = Date.now() + 3000;
  while (s.server.hub.connectionCount > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  t.equal(s.server.hub.connectionCount, 1, 'the silent peer was dropped');
  dead.terminate();
  await deadClosed;
  t.ok(pings >= 2, `the live peer was pinged (${pings} times)`);
  t.equal(alive.readyState, WebSocket.OPEN, 'the live peer is still connected');
  alive.close();
});

t.test('a client that stops reading is cut off with bye reconnect:true', async (t) => {
  const s = await startServer({ rateLimit: 100000, rateBurst: 100000, sendBufferLimit: 64 * 1024 });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const { c: talker } = await login(connect, 'Talker');
  const slow = await rawSocket(s.url);
  slow.send(JSON.stringify({ cmd: 'login', name: 'Sleepy' }));
  await new Promise((resolve) => slow.once('message', resolve));
  const socket = (slow as unknown as { _socket: { pause(): void } })._socket;
  socket.pause();
  const body = 'z'.repeat(4000);
  for (let i = 0; i < 3000 && s.server.hub.dir.users.has('sleepy'); i++) {
    sendText(talker, { room: 'lobby' }, body);
    if (i % 100 === 99) await talker.next((m: Msg) => m.cmd === 'ack' && typeof m.offset === 'number' && m.offset >= i - 50);
  }
  t.notOk(s.server.hub.dir.users.has('sleepy'), 'the slow consumer was dropped');
  const off = await talker.next((m) => m.cmd === 'presence' && m.event === 'offline');
  t.match(off.user, { id: 'sleepy' });
  slow.terminate();
});

t.test('origins: own and allowed ones connect, others get 403', async (t) => {
  const s = await startServer({ allowedOrigins: ['https://chat.example.org'] });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  await t.resolves(connect({ origin: s.url }), 'own origin');
  await t.resolves(connect({ origin: 'https://chat.example.org' }), 'allowed origin');
  await t.resolves(connect(), 'no Origin header (not a browser)');
  await t.rejects(connect({ origin: 'https://evil.example.com' }), /403/);
});

t.test('shutdown: bye with reconnect:true to everyone, /healthz 503 meanwhile', async (t) => {
  const s = await startServer({ shutdownGrace: 1000 });
  const connect = wsConnect(s.url);
  const res = await fetch(`${s.url}/healthz`);
  t.equal(res.status, 200);
  const { c } = await login(connect, 'Stayer');
  const closing = s.close();
  t.match(await c.next('bye'), { code: 'shutdown', reconnect: true });
  t.equal(await c.closed, 1001);
  await closing;
});
