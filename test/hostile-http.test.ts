/**
 * Hostile HTTP input (issue 7) that test/sockjs-limits.test.ts and
 * test/comet-http.test.ts leave out: upgrades to paths that take none,
 * bodies of megabytes, huge and malformed session ids and callbacks,
 * thousands of requests on a dead Comet session, and encoded path
 * traversal against every static tree. Requests that a URL parser would
 * normalise go out over raw sockets, byte for byte. After each a fresh
 * client still logs in and chats.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { raw } from './helpers/comet-raw.js';
import { rawExchange, stillChatting, upgradeRequest } from './helpers/raw-ws.js';
import { startServer } from './helpers/server.js';

const MAX = 4096;

function get(port: number, path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n${extra}\r\n`;
}

t.test('an Upgrade to a path that takes none is answered and its socket closed', async (t) => {
  const s = await startServer();
  t.teardown(() => s.close());
  const paths = ['/sockjs/foo/bar', '/sockjs/../ws', '/sockjs/%2e%2e/ws', `/sockjs/${'a/'.repeat(3000)}websocket`, '/', '/nope', '/comet/poll', '/healthz', '/avatars/cat.svg'];
  for (const path of paths) {
    const answer = await rawExchange(s.port, upgradeRequest(s.port, path), 3000);
    t.ok(answer.status >= 400 && answer.status < 500, `${path.slice(0, 40)}: HTTP ${answer.status}`);
    t.ok(answer.closed, `${path.slice(0, 40)}: socket closed, not left hanging`);
  }
  const post = `POST /sockjs/websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n`;
  t.equal((await rawExchange(s.port, post, 3000)).status, 400, 'a POST asking for an upgrade');
  const h2c = upgradeRequest(s.port, '/sockjs/websocket').replace('Upgrade: websocket', 'Upgrade: h2c');
  t.equal((await rawExchange(s.port, h2c, 3000)).status, 400, 'Upgrade: h2c');
  await stillChatting(t, s.url, 'upgrades to unknown paths');
});

t.test('SockJS: a send body of megabytes is refused with 413, on a live session or none', async (t) => {
  const s = await startServer({ maxMessageSize: MAX });
  t.teardown(() => s.close());
  const base = `${s.url}/sockjs/000/hostile`;
  t.equal(await (await fetch(`${base}/xhr`, { method: 'POST' })).text(), 'o\n', 'session open');
  const huge = 'x'.repeat(8 * 1024 * 1024);
  for (const url of [`${base}/xhr_send`, `${s.url}/sockjs/000/nosuchsession/xhr_send`, `${base}/jsonp_send`]) {
    const r = await fetch(url, { method: 'POST', body: huge, headers: { 'content-type': 'text/plain' } });
    t.equal(r.status, 413, `${url.slice(s.url.length)}: 413`);
    t.match(await r.json(), { error: 'too_large' });
  }
  const ok = await fetch(`${base}/xhr_send`, { method: 'POST', body: JSON.stringify([JSON.stringify({ cmd: 'ping', ts: 5 })]) });
  t.equal(ok.status, 204, 'the session takes a send within the limit afterwards');
  t.match(await (await fetch(`${base}/xhr`, { method: 'POST' })).text(), /pong.*5/, 'and answers it');
  await stillChatting(t, s.url, 'SockJS bodies of megabytes');
});

t.test('Comet: oversized callbacks, bodies of megabytes, huge and malformed session ids get their 4xx', async (t) => {
  const s = await startServer({ maxMessageSize: MAX, pollTimeout: 300, sessionTimeout: 60000 });
  t.teardown(() => s.close());
  for (const callback of ['a'.repeat(10000), `a.${'b'.repeat(5000)}`, 'a.b.c.d.e.f.g.h'.repeat(500)]) {
    const r = await raw(s.url, 'open', { query: { callback } });
    t.equal(r.status, 400, `callback of ${callback.length} characters: 400`);
    t.notOk(r.text.startsWith('/**/'), 'no script');
  }
  const overLong = await rawExchange(s.port, get(s.port, `/comet/open?callback=${'c'.repeat(20000)}`), 3000);
  t.equal(overLong.status, 431, 'a request line over the header limit: 431');
  t.equal(s.server.hub.connectionCount, 0, 'no refused callback opened a session');

  const opened = await raw(s.url, 'open', { method: 'POST' });
  const sid = (opened.body as { sid: string }).sid;
  const huge = await raw(s.url, 'send', { method: 'POST', query: { sid }, type: 'application/json', body: `[${'"x",'.repeat(2 * 1024 * 1024)}"x"]` });
  t.equal(huge.status, 413, 'an 8 MiB body: 413');
  t.same(huge.body, { error: 'too_large' });
  const sent = await raw(s.url, 'send', { method: 'POST', query: { sid }, type: 'application/json', body: '[{"cmd":"ping","ts":11}]' });
  t.same(sent.body, { ok: true }, 'the session survived the huge body');

  // Checked on the live session, before the sids below end it.
  for (const ack of ['-1', '1e9', 'NaN', '9'.repeat(30), '0x10', '']) {
    const r = await raw(s.url, 'poll', { query: { sid, ack } });
    t.equal(r.status, 400, `ack=${JSON.stringify(ack)}: 400`);
  }
  const sids: Array<[string, string | string[]]> = [
    ['10 KB', 'A'.repeat(10000)],
    ['empty', ''],
    ['path traversal', '../../etc/passwd'],
    ['NUL', 'abc\u0000def'],
    ['non-ASCII', 'ŝéšŝïöñ-ïđ-ŝéšŝïöñ'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['hasOwnProperty', 'hasOwnProperty'],
    ['the live sid twice', [sid, sid]],
    ['the live sid with a suffix', `${sid}x`],
  ];
  for (const [what, bad] of sids) {
    for (const endpoint of ['poll', 'send', 'close']) {
      const r = await raw(s.url, endpoint, { method: 'POST', query: { sid: bad, ack: '0' }, type: 'application/json', body: '[{"cmd":"ping"}]' });
      const ok = what === 'the live sid twice' ? r.status === 200 || r.status === 404 : r.status === 404;
      t.ok(ok, `${what} sid, ${endpoint}: HTTP ${r.status}`);
      if (r.status === 404) t.same(r.body, { error: 'unknown_session' }, `${what} sid, ${endpoint}: unknown_session`);
    }
  }
  await stillChatting(t, s.url, 'hostile Comet requests');
});

/** heapUsed after a full collection: exposes gc for this process only, as `node --expose-gc` would. */
function collectedHeap(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

t.test('thousands of requests on a dead Comet session are each a cheap 404; memory does not grow', async (t) => {
  const s = await startServer({ pollTimeout: 300, sessionTimeout: 60000 });
  t.teardown(() => s.close());
  const sid = ((await raw(s.url, 'open', { method: 'POST' })).body as { sid: string }).sid;
  t.same((await raw(s.url, 'close', { query: { sid } })).body, { ok: true }, 'session closed');
  const round = async (n: number): Promise<Map<number, number>> => {
    const statuses = new Map<number, number>();
    const endpoints = ['poll', 'send', 'close'];
    for (let i = 0; i < n; i += 50) {
      const batch = Array.from({ length: 50 }, (_, j) =>
        raw(s.url, endpoints[(i + j) % 3] as string, { method: 'POST', query: { sid, ack: '0' }, type: 'application/json', body: '[{"cmd":"ping"}]' }),
      );
      for (const r of await Promise.all(batch)) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
    return statuses;
  };
  // The first thousands of requests grow the heap by 1-7 MiB (JIT code, inline caches, undici's pool) and then it
  // stays flat, so the warm-up is as long as a round. A leak grows every round: the smaller of two rounds' growth
  // is the figure, so one round's collector noise cannot fail the test and a leak of 1.4 KiB a request still does.
  await round(3000);
  const grown: number[] = [];
  for (let i = 0; i < 2; i++) {
    const before = collectedHeap();
    const statuses = await round(3000);
    grown.push(collectedHeap() - before);
    t.same([...statuses], [[404, 3000]], 'every one of 3,000 requests: 404');
  }
  const least = Math.min(...grown);
  t.ok(least < 4 * 1024 * 1024, `heap after 3,000 more requests grew ${grown.map((g) => (g / 1024).toFixed(0)).join(' and ')} KiB (under 4 MiB)`);
  t.equal(s.server.hub.connectionCount, 0, 'nothing reached the core');
  await stillChatting(t, s.url, 'a dead session hammered');
});

const TRAVERSALS = [
  '../package.json', '..%2fpackage.json', '..%2Fpackage.json', '%2e%2e/package.json', '%2E%2E/package.json', '%2e%2e%2fpackage.json',
  '%2E%2E%2Fpackage.json', '.%2e/package.json', '%2e./package.json', '..%5cpackage.json', '%2e%2e%5cpackage.json', '..\\package.json',
  '..//package.json', '..%2f%2fpackage.json', '%252e%252e%252fpackage.json', '..%252fpackage.json', '%c0%ae%c0%ae/package.json',
  '%c0%ae%c0%ae%c0%afpackage.json', '%e0%80%ae%e0%80%ae/package.json', '..%c0%afpackage.json', '..%00/package.json', 'package.json%00.svg',
  '%00../package.json', '..;/package.json', '....//package.json', '.../package.json', '..%u2216package.json', '%uff0e%uff0e/package.json',
  '../../../../../../../../etc/passwd', '..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd', '%2fetc%2fpasswd', '/%2fetc/passwd',
  '//etc/passwd', '%5c..%5c..%5c..%5c..%5cetc%5cpasswd', '../secret.key', '..%2fsecret.key', '%2e%2e%2fsecret.key', '..%5csecret.key',
  '../store.db', '..%2fwebim.db', '../uploads/../secret.key', './../secret.key', '%2e/%2e%2e/secret.key',
];
const PREFIXES = ['/', '/avatars/', '/polyfills/', '/uploads/', '/webim/', '/sockjs/', '/comet/', '/admin/api/', '/api/'];

t.test('encoded path traversal never reaches a file outside public/', async (t) => {
  const s = await startServer({ store: 'sqlite' });
  t.teardown(() => s.close());
  const secret = readFileSync(join(s.server.config.dataDir, 'secret.key'), 'utf8').trim();
  t.match(secret, /^[0-9a-f]{64}$/, 'the secret this attack is after exists');
  const forbidden: Array<[string, RegExp | string]> = [
    ['package.json', '"better-sqlite3"'],
    ['secret.key', secret],
    ['/etc/passwd', /root:.*:0:0:/],
    ['SQLite', 'SQLite format 3'],
  ];
  const statuses = new Map<number, number>();
  for (const prefix of PREFIXES) {
    for (const attack of TRAVERSALS) {
      const path = prefix + attack;
      const answer = await rawExchange(s.port, get(s.port, path), 3000);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const body = answer.rest.toString('latin1');
      for (const [what, mark] of forbidden) {
        const leaked = typeof mark === 'string' ? body.includes(mark) : mark.test(body);
        if (leaked) t.fail(`${path}: leaks ${what}`);
      }
      if (answer.status < 400 || answer.status >= 500) t.fail(`${path}: HTTP ${answer.status}, not a 4xx`);
    }
  }
  const total = PREFIXES.length * TRAVERSALS.length;
  t.equal([...statuses].filter(([st]) => st >= 400 && st < 500).reduce((n, [, c]) => n + c, 0), total, `all ${total} traversals answered 4xx: ${JSON.stringify([...statuses])}`);
  const style = await rawExchange(s.port, get(s.port, '/style.css'), 3000);
  t.equal(style.status, 200, 'the control: a public file is served');
  const cat = await rawExchange(s.port, get(s.port, '/avatars/./cat.svg'), 3000);
  t.ok(cat.status === 200 || cat.status === 404, `a harmless dot segment: HTTP ${cat.status}`);
  await stillChatting(t, s.url, 'path traversal');
});
