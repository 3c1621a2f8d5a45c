/**
 * What the SockJS transport adds around sockjs-node (transports/sockjs.ts):
 * bounded request bodies, origin checks, upgrades to unknown paths, the
 * per-IP cap, the client script it serves for the iframe transports, its
 * timers, the slow-consumer cut-off and the shutdown `bye`. Raw HTTP and
 * raw sockets are used where sockjs-client would hide the answer.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { startServer } from './helpers/server.js';
import { sockjsConnect, sockjsOpen } from './helpers/sockjs-client.js';
import { wsConnect } from './helpers/ws-client.js';
import { login, sendText } from './scenarios/chat.js';

const sid = () => randomBytes(6).toString('hex');

/** One SockJS frame as a sockjs-client would send it: a JSON array of strings. */
const frame = (...msgs: object[]) => JSON.stringify(msgs.map((m) => JSON.stringify(m)));

async function post(url: string, body = '', headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain', ...headers } });
  return { status: res.status, text: await res.text() };
}

/** A POST whose body goes out in chunks with no Content-Length (Transfer-Encoding: chunked). */
function postChunked(url: string, chunks: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/** Sends a raw WebSocket upgrade request and returns everything the server wrote before it closed the socket. */
function rawUpgrade(port: number, path: string, extra = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d) => (got += String(d)));
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
    socket.setTimeout(3000, () => {
      socket.destroy();
      reject(new Error(`${path}: the server left the socket open`));
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n${extra}\r\n`,
    );
  });
}

function wsStatus(url: string, origin?: string): Promise<number | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
}

t.test('send bodies over the message size are refused with 413; the session and the server carry on', async (t) => {
  const s = await startServer({ maxMessageSize: 2048 });
  t.teardown(() => s.close());
  const base = `${s.url}/sockjs/000/${sid()}`;
  t.equal((await post(`${base}/xhr`)).text, 'o\n', 'session open');
  const big = frame({ cmd: 'ping', pad: 'x'.repeat(4096) });
  t.equal((await post(`${base}/xhr_send`, big)).status, 413, 'xhr_send with a Content-Length over the limit');
  t.equal(await postChunked(`${base}/xhr_send`, [big.slice(0, 1500), big.slice(1500, 3000), big.slice(3000)]), 413, 'chunked xhr_send over the limit');
  const form = `d=${encodeURIComponent(big)}`;
  t.equal((await post(`${base}/jsonp_send`, form, { 'content-type': 'application/x-www-form-urlencoded' })).status, 413, 'jsonp_send');
  t.equal((await fetch(`${s.url}/healthz`)).status, 200, 'the process is alive');
  t.equal((await post(`${base}/xhr_send`, frame({ cmd: 'ping', ts: 7 }))).status, 204, 'a send within the limit is taken');
  t.equal(await postChunked(`${base}/xhr_send`, [frame({ cmd: 'ping', ts: 8 })]), 204, 'chunked too');
  const polled = (await post(`${base}/xhr`)).text;
  t.equal(polled, `a${frame({ cmd: 'pong', ts: 7 }, { cmd: 'pong', ts: 8 })}\n`, 'the session still answers, in order');
});

/** Reads a streaming GET until `until` matches, then drops the request. */
function streamStart(url: string, until: RegExp): Promise<{ type: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += String(d);
        if (until.test(text)) {
          req.destroy();
          resolve({ type: String(res.headers['content-type']), text });
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(3000, () => reject(new Error(`${url}: no ${String(until)} in time`)));
    req.end();
  });
}

t.test('the browser-only transports pass the guard: jsonp-polling, eventsource, htmlfile', async (t) => {
  const s = await startServer();
  t.teardown(() => s.close());
  const base = `${s.url}/sockjs/000/${sid()}`;
  const poll = async () => (await fetch(`${base}/jsonp?c=cb`)).text();
  t.equal(await poll(), '/**/cb("o");\r\n', 'jsonp open frame');
  const form = `d=${encodeURIComponent(frame({ cmd: 'ping', ts: 9 }))}`;
  const sent = await post(`${base}/jsonp_send`, form, { 'content-type': 'application/x-www-form-urlencoded' });
  t.same([sent.status, sent.text], [200, 'ok'], 'jsonp_send of a form');
  t.match(await poll(), /^\/\*\*\/cb\("a\[.*pong.*9.*\]"\);/, 'the pong comes back by JSONP');
  const es = await streamStart(`${s.url}/sockjs/000/${sid()}/eventsource`, /data: o\r\n\r\n/);
  t.match(es.type, /^text\/event-stream/, 'eventsource stream opens');
  const hf = await streamStart(`${s.url}/sockjs/000/${sid()}/htmlfile?c=cb`, /p\("o"\);/);
  t.match(hf.type, /^text\/html/, 'htmlfile stream opens');
});

t.test('an Upgrade to a path under /sockjs that is no WebSocket endpoint is answered, not a crash', async (t) => {
  const s = await startServer();
  t.teardown(() => s.close());
  for (const path of ['/sockjs/foo/bar/baz', '/sockjs/info', '/sockjs/iframe.html', '/sockjs', '/sockjs/000/abc/xhr']) {
    const answer = await rawUpgrade(s.port, path);
    t.match(answer, /^HTTP\/1\.1 404 /, `${path}: 404, socket closed`);
  }
  t.match(await rawUpgrade(s.port, '/sockjs/websocket', 'Origin: https://evil.example\r\n'), /^HTTP\/1\.1 403 /);
  t.equal((await fetch(`${s.url}/healthz`)).status, 200, '/healthz still answers');
  t.equal(await wsStatus(`${s.url.replace(/^http/, 'ws')}/ws`), 'open', '/ws still upgrades');
  const c = await sockjsOpen(s.url, 'websocket');
  c.send({ cmd: 'ping', ts: 1 });
  t.equal((await c.next('pong')).ts, 1, 'SockJS over WebSocket still works');
  c.close();
});

t.test('origins: a refused one gets 403 on HTTP and on the upgrade; own, allowed and none get in', async (t) => {
  const s = await startServer({ allowedOrigins: ['https://chat.example.org'] });
  t.teardown(() => s.close());
  const info = (origin?: string) => fetch(`${s.url}/sockjs/info`, { headers: origin ? { origin } : {} });
  const evil = await info('https://evil.example.com');
  t.equal(evil.status, 403);
  t.same(await evil.json(), { error: 'forbidden', message: 'origin not allowed' });
  const allowed = await info('https://chat.example.org');
  t.equal(allowed.status, 200);
  t.equal(allowed.headers.get('access-control-allow-origin'), 'https://chat.example.org', 'CORS for an allowed origin');
  t.equal((await info(s.url)).status, 200, 'own origin');
  t.equal((await info()).status, 200, 'no Origin header');
  t.equal((await post(`${s.url}/sockjs/000/${sid()}/xhr`, '', { origin: 'https://evil.example.com' })).status, 403, 'a session request');
  const ws = s.url.replace(/^http/, 'ws');
  const paths = ['/sockjs/websocket', `/sockjs/000/${sid()}/websocket`];
  for (const path of paths) t.equal(await wsStatus(ws + path, 'https://evil.example.com'), 403, `${path}: refused upgrade`);
  t.equal(s.server.hub.connectionCount, 0, 'no refused request reached the core');
  for (const path of paths) t.equal(await wsStatus(ws + path, 'https://chat.example.org'), 'open', `${path}: allowed origin`);
});

t.test('sockjs-client is served under /polyfills and the iframe page loads it from there', async (t) => {
  const s = await startServer({ allowedOrigins: ['https://chat.example.org'] });
  t.teardown(() => s.close());
  for (const file of ['sockjs.min.js', 'sockjs.js']) {
    const res = await fetch(`${s.url}/polyfills/${file}`);
    t.equal(res.status, 200, file);
    t.match(res.headers.get('content-type'), /^application\/javascript/, `${file}: JavaScript`);
    t.match(await res.text(), /SockJS/, `${file}: the client`);
    const again = await fetch(`${s.url}/polyfills/${file}`, { headers: { 'if-none-match': res.headers.get('etag') ?? '' } });
    t.equal(again.status, 304, `${file}: revalidates`);
  }
  const iframe = await fetch(`${s.url}/sockjs/iframe.html`);
  t.equal(iframe.status, 200);
  t.match(iframe.headers.get('content-type'), /^text\/html/);
  const page = await iframe.text();
  t.match(page, /<script[^>]* src="\/polyfills\/sockjs\.min\.js"><\/script>/, 'no CDN: the project\'s own copy');
  t.match(page, /if \(!window\.JSON\) document\.write\([^\n]*\/polyfills\/json3\.min\.js/, 'and json3 first where JSON is missing');
  t.equal(iframe.headers.get('content-security-policy'), "frame-ancestors 'self' https://chat.example.org", 'only allowed pages may frame it');
});

t.test('per-IP cap: a new session over it is refused before it opens; a freed slot is usable', async (t) => {
  const s = await startServer({ maxConnectionsPerIp: 2 });
  t.teardown(() => s.close());
  const first = await sockjsOpen(s.url, 'xhr-streaming');
  await sockjsOpen(s.url, 'websocket');
  t.equal((await post(`${s.url}/sockjs/000/${sid()}/xhr`)).status, 429, 'HTTP session over the cap');
  t.match(await rawUpgrade(s.port, '/sockjs/websocket'), /^HTTP\/1\.1 429 /, 'WebSocket over the cap');
  await t.rejects(sockjsOpen(s.url, 'xhr-polling', 2000), 'sockjs-client cannot open a third');
  first.close();
  const deadline = Date.now() + 3000;
  while (s.server.hub.connectionCount > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const again = await sockjsOpen(s.url, 'xhr-polling');
  again.send({ cmd: 'ping', ts: 3 });
  t.equal((await again.next('pong')).ts, 3);
});

t.test('timers: heartbeat frames on a quiet stream, and a session with no request ends after the disconnect delay', async (t) => {
  const s = await startServer({ sockjsHeartbeat: 150, sockjsDisconnectDelay: 300 });
  t.teardown(() => s.close());
  const got = await new Promise<string>((resolve, reject) => {
    let text = '';
    const req = request(`${s.url}/sockjs/000/${sid()}/xhr_streaming`, { method: 'POST' }, (res) => {
      res.on('data', (d) => {
        text += String(d);
        if (/\no\n(h\n){2}$/.test(text)) {
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
  t.match(got, /\no\nh\nh\n$/, 'two heartbeats after open');
  const base = `${s.url}/sockjs/000/${sid()}`;
  await post(`${base}/xhr`);
  await post(`${base}/xhr_send`, frame({ cmd: 'login', name: 'Leaver' }));
  t.ok(s.server.hub.dir.users.has('leaver'), 'logged in over xhr-polling');
  const deadline = Date.now() + 3000;
  while (s.server.hub.dir.users.has('leaver') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  t.notOk(s.server.hub.dir.users.has('leaver'), 'gone once no poll came within the disconnect delay');
});

t.test('a SockJS client that stops polling is cut off as a slow consumer', async (t) => {
  const s = await startServer({ rateLimit: 100000, rateBurst: 100000, sendBufferLimit: 16 * 1024, sockjsDisconnectDelay: 20000 });
  t.teardown(() => s.close());
  const { c: talker } = await login(wsConnect(s.url), 'Talker');
  const base = `${s.url}/sockjs/000/${sid()}`;
  await post(`${base}/xhr`);
  await post(`${base}/xhr_send`, frame({ cmd: 'login', name: 'Sleepy' }));
  t.ok(s.server.hub.dir.users.has('sleepy'));
  const started = Date.now();
  for (let i = 0; i < 20 && s.server.hub.dir.users.has('sleepy'); i++) {
    sendText(talker, { room: 'lobby' }, 'z'.repeat(2000));
    await talker.next('ack');
  }
  t.notOk(s.server.hub.dir.users.has('sleepy'), 'dropped once its unpolled frames passed the send buffer limit');
  t.ok(Date.now() - started < 10000, 'long before the disconnect delay');
  const polled = (await post(`${base}/xhr`)).text;
  t.match(polled, /slow_consumer/, 'its next poll carries the bye');
});

t.test('a SockJS WebSocket that stops reading is cut off as a slow consumer, on both endpoints', async (t) => {
  const s = await startServer({ rateLimit: 100000, rateBurst: 100000, sendBufferLimit: 64 * 1024 });
  t.teardown(() => s.close());
  const { c: talker } = await login(wsConnect(s.url), 'Talker');
  // The raw endpoint carries protocol messages as they are; the session one wraps them in SockJS frames.
  for (const [path, name] of [['/sockjs/websocket', 'Raw'], [`/sockjs/000/${sid()}/websocket`, 'Framed']] as const) {
    const slow = new WebSocket(s.url.replace(/^http/, 'ws') + path);
    await new Promise((resolve, reject) => {
      slow.once('open', resolve);
      slow.once('error', reject);
    });
    const login = JSON.stringify({ cmd: 'login', name });
    const answered = new Promise((resolve) => slow.on('message', (d) => String(d).includes('login') && resolve(d)));
    slow.send(name === 'Raw' ? login : JSON.stringify([login]));
    await answered;
    const id = name.toLowerCase();
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    for (let i = 0; i < 3000 && s.server.hub.dir.users.has(id); i++) {
      sendText(talker, { room: 'lobby' }, 'z'.repeat(4000));
      if (i % 100 === 99) await talker.next((m) => m.cmd === 'ack' && typeof m.offset === 'number' && m.offset >= i - 50);
    }
    t.notOk(s.server.hub.dir.users.has(id), `${name}: dropped`);
    slow.terminate();
  }
  t.equal((await fetch(`${s.url}/healthz`)).status, 200, 'the process is alive');
});

t.test('a WebSocket frame over the message size closes the session with 1009', async (t) => {
  const s = await startServer({ maxMessageSize: 2048 });
  t.teardown(() => s.close());
  const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/sockjs/websocket`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send(JSON.stringify({ cmd: 'ping', pad: 'x'.repeat(4096) }));
  t.equal(await closed, 1009);
});

t.test('shutdown: every SockJS transport gets bye with reconnect:true, and the server closes promptly', async (t) => {
  const s = await startServer({ shutdownGrace: 1000 });
  const clients = [];
  for (const tr of ['websocket', 'xhr-streaming', 'xhr-polling'] as const) {
    const { c } = await login(sockjsConnect(s.url, tr), `Stayer-${tr}`);
    clients.push(c);
  }
  // The raw WebSocket endpoint: its close code must be one faye-websocket accepts, or the shutdown would throw.
  const raw = new WebSocket(`${s.url.replace(/^http/, 'ws')}/sockjs/websocket`);
  const rawLog: string[] = [];
  raw.on('message', (d) => rawLog.push(String(d)));
  const rawClosed = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)));
  await new Promise((resolve) => raw.once('open', resolve));
  // A raw polling session that is between two polls when the server stops.
  const base = `${s.url}/sockjs/000/${sid()}`;
  await post(`${base}/xhr`);
  await post(`${base}/xhr_send`, frame({ cmd: 'login', name: 'Between' }));
  t.match((await post(`${base}/xhr`)).text, /\\"cmd\\":\\"login\\"/, 'logged in');
  const started = Date.now();
  const closing = s.close();
  await new Promise((r) => setTimeout(r, 100));
  const next = (await post(`${base}/xhr`)).text;
  t.match(next, /\\"cmd\\":\\"bye\\",\\"code\\":\\"shutdown\\"/, 'a poll after the stop began still gets the bye');
  for (const c of clients) {
    t.match(await c.next('bye'), { code: 'shutdown', reconnect: true }, `${c.transport}: bye`);
    t.equal(await c.closed, 1001, `${c.transport}: closed with 1001`);
  }
  t.equal(await rawClosed, 1000, 'raw WebSocket: closed with 1000 (faye-websocket allows no 1001)');
  t.match(rawLog.map((m) => JSON.parse(m) as { cmd: string; code: string }), [{ cmd: 'bye', code: 'shutdown' }], 'raw WebSocket: bye first');
  await closing;
  t.ok(Date.now() - started < 3000, `closed in ${Date.now() - started} ms`);
});
