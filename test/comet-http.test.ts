/**
 * The HTTP surface of the Comet transport (docs/protocol.md sections 4 and 7):
 * every endpoint by GET and POST in JSON and JSONP, the headers old IE and
 * script tags need, the four ways to send, callback names, body limits and
 * bad JSON, and CORS for XHR from the allowed origins.
 */
import t, { type Test } from 'tap';
import type { Msg } from './helpers/client.js';
import { parseJsonp } from './helpers/comet-client.js';
import { type RawReply, loggedIn, openSession, raw } from './helpers/comet-raw.js';
import { startServer } from './helpers/server.js';

const POLL = 300;
/** Short polls; sessions that never expire during a test, however slow the machine. */
const QUICK = { pollTimeout: POLL, sessionTimeout: 60000 };

function isJson(t: Test, r: RawReply, status: number, what: string): void {
  t.equal(r.status, status, `${what}: HTTP ${status}`);
  t.match(r.headers.get('content-type'), /^application\/json/, `${what}: application/json`);
  t.match(r.headers.get('cache-control'), /\bno-store\b/, `${what}: no-store`);
}

function isScript(t: Test, r: RawReply, callback: string, what: string): unknown {
  t.equal(r.status, 200, `${what}: JSONP is always 200`);
  t.match(r.headers.get('content-type'), /^application\/javascript/, `${what}: application/javascript`);
  t.equal(r.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  t.match(r.headers.get('cache-control'), /\bno-store\b/, `${what}: no-store`);
  t.ok(r.text.startsWith(`/**/${callback}(`) && r.text.endsWith(');'), `${what}: /**/${callback}(...);`);
  return parseJsonp(r.text, callback);
}

t.test('every endpoint by GET and POST, JSON and JSONP, uncached, with a cache-buster ignored', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  const sids = new Set<string>();
  for (const method of ['GET', 'POST']) {
    for (const callback of [undefined, 'jQuery1910_1', 'a.b.c.d']) {
      const what = `${method} ${callback ?? 'json'}`;
      const q = (extra: Record<string, string>) => ({ ...extra, _: '123', ...(callback ? { callback } : {}) });
      const check = (r: RawReply, step: string): Record<string, unknown> =>
        (callback ? isScript(t, r, callback, `${what} ${step}`) : (isJson(t, r, 200, `${what} ${step}`), r.body)) as Record<string, unknown>;
      const opened = check(await raw(srv.url, 'open', { method, query: q({}) }), 'open');
      const sid = opened.sid as string;
      t.match(sid, /^[A-Za-z0-9_-]{22,}$/, `${what}: a url-safe sid of 128 bits or more`);
      t.notOk(sids.has(sid), `${what}: a new sid`);
      sids.add(sid);
      t.equal(opened.timeout, POLL, `${what}: timeout is the poll timeout`);
      const ping = JSON.stringify([{ cmd: 'ping', ts: 5 }]);
      const sent = check(await raw(srv.url, 'send', method === 'GET' ? { method, query: q({ sid, d: ping }) } : { method, query: q({ sid }), type: 'application/json', body: ping }), 'send');
      t.same(sent, { ok: true }, `${what}: send answers ok`);
      const polled = check(await raw(srv.url, 'poll', { method, query: q({ sid, ack: '0' }) }), 'poll');
      t.match(polled, { seq: 1, frames: [{ seq: 1, msg: { cmd: 'pong', ts: 5 } }] }, `${what}: poll gets the pong`);
      check(await raw(srv.url, 'close', { method, query: q({ sid }) }), 'close');
      t.equal((await raw(srv.url, 'poll', { method, query: { sid, ack: '1' } })).status, 404, `${what}: closed`);
    }
  }
  const byDefault = await startServer();
  t.teardown(() => byDefault.close());
  const s = await openSession(byDefault.url);
  t.equal(s.timeout, 25000, 'the default poll timeout is 25 s, below the usual 60 s proxy timeout');
});

t.test('send takes JSON, text/plain (XDomainRequest), the form field d, and d by GET', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  const s = await openSession(srv.url);
  const body = (ts: number) => JSON.stringify([{ cmd: 'ping', ts }]);
  const ways: Array<[string, Parameters<typeof raw>[2]]> = [
    ['application/json', { method: 'POST', type: 'application/json', body: body(1) }],
    ['application/json; charset=utf-8', { method: 'POST', type: 'application/json; charset=utf-8', body: body(2) }],
    ['text/plain', { method: 'POST', type: 'text/plain', body: body(3) }],
    ['text/plain;charset=UTF-8', { method: 'POST', type: 'text/plain;charset=UTF-8', body: body(4) }],
    ['form field d', { method: 'POST', type: 'application/x-www-form-urlencoded', body: new URLSearchParams({ d: body(5) }).toString() }],
    ['GET d', { method: 'GET', query: { d: body(6) } }],
    // IE8's XDomainRequest sends its text/plain body with no Content-Type header at all.
    ['no Content-Type (XDomainRequest)', { method: 'POST', body: new TextEncoder().encode(body(7)) }],
  ];
  for (const [what, init] of ways) {
    const r = await raw(srv.url, 'send', { ...init, query: { sid: s.sid, ...init?.query } });
    isJson(t, r, 200, what);
    t.same(r.body, { ok: true }, `${what}: ok`);
  }
  // A form POST into a hidden iframe (old IE's JSONP send) asks for a script answer.
  const form = await raw(srv.url, 'send', { method: 'POST', type: 'application/x-www-form-urlencoded', body: new URLSearchParams({ d: body(8) }).toString(), query: { sid: s.sid, callback: 'parent.sent' } });
  t.same(isScript(t, form, 'parent.sent', 'form POST with callback'), { ok: true });
  const pongs: unknown[] = [];
  while (pongs.length < 8) {
    const answer = await s.poll();
    for (const f of answer.frames) {
      pongs.push(f.msg.ts);
      s.ack = f.seq;
    }
  }
  t.same(pongs, [1, 2, 3, 4, 5, 6, 7, 8], 'every way delivered its message, in order');
  const many = await s.send([{ cmd: 'ping', ts: 9 }, { cmd: 'ping', ts: 10 }]);
  t.same(many.body, { ok: true });
  const two = await s.poll();
  t.same(two.frames.map((f) => f.msg.ts), [9, 10], 'one body may carry several messages, processed in order');
});

t.test('bad callbacks get 400 and no script, on every endpoint', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  const s = await openSession(srv.url);
  const bad: Array<string | string[]> = [
    '', '1abc', 'a-b', 'alert(1)//', 'a b', 'a..b', '.a', 'a.', 'a.b.c.d.e', 'x'.repeat(65), 'a.' + 'y'.repeat(65),
    '<script>', 'cb;alert(1)', 'cb\n', 'ça', 'a\u2028b', 'cb/**/', 'a[0]',
  ];
  for (const endpoint of ['open', 'poll', 'send', 'close']) {
    for (const callback of bad) {
      const r = await raw(srv.url, endpoint, { query: { sid: s.sid, ack: '0', d: '[{"cmd":"ping"}]', callback } });
      // Escaped, so that U+2028 does not break the TAP line.
      const what = `${endpoint} callback=${JSON.stringify(callback).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}`;
      t.equal(r.status, 400, `${what}: 400`);
      t.notMatch(r.headers.get('content-type') ?? '', /javascript/, `${what}: not a script`);
      t.notOk(r.text.startsWith('/**/'), `${what}: no JSONP wrapper`);
    }
  }
  for (const callback of ['$', '_', 'a.b.c.d', 'x'.repeat(64), 'jQuery331_1700000000000', '$.cb_1.x$']) {
    isScript(t, await raw(srv.url, 'open', { query: { callback } }), callback, `callback ${callback.slice(0, 20)}`);
  }
  const alive = await s.pollRaw();
  t.equal(alive.status, 200, 'the session was not harmed');
});

t.test('a repeated callback parameter is not a callback name: 400, no script', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  // Which one would a cache or filter in front have checked? Refuse the ambiguity (HTTP parameter pollution).
  const r = await raw(srv.url, 'open', { query: { callback: ['ok', 'also'] } });
  t.equal(r.status, 400);
  t.notOk(r.text.startsWith('/**/'), 'no JSONP wrapper');
  t.equal(srv.server.hub.connectionCount, 0, 'no session was made');
});

t.test('JSONP escapes U+2028 and U+2029, which old script engines read as line ends', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  const { s } = await loggedIn(srv.url, 'Lines');
  const text = 'one\u2028two\u2029three';
  await s.send([{ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: text, cid: 'ls' }]);
  let got: unknown;
  for (let i = 0; i < 5 && got === undefined; i++) {
    const r = await s.pollRaw(s.ack, { query: { callback: 'cb' } });
    t.notMatch(r.text, /[\u2028\u2029]/, 'no raw U+2028/U+2029 in the script');
    const answer = isScript(t, r, 'cb', 'poll') as { frames: Array<{ seq: number; msg: Msg }> };
    for (const f of answer.frames) {
      s.ack = f.seq;
      if (f.msg.cmd === 'message') got = f.msg.body;
    }
  }
  t.equal(got, text, 'the message arrives intact');
});

t.test('a body over the limit gets 413 too_large and the session stays valid', async (t) => {
  const srv = await startServer({ ...QUICK, maxMessageSize: 2048 });
  t.teardown(() => srv.close());
  const { s } = await loggedIn(srv.url, 'Big');
  const big = JSON.stringify([{ cmd: 'ping', pad: 'x'.repeat(3000) }]);
  for (const [type, body] of [
    ['application/json', big],
    ['text/plain', big],
    ['application/x-www-form-urlencoded', new URLSearchParams({ d: big }).toString()],
  ] as const) {
    const r = await s.send([], { type, body });
    isJson(t, r, 413, type);
    t.same(r.body, { error: 'too_large' }, `${type}: too_large`);
  }
  const script = await s.send([], { type: 'text/plain', body: big, query: { callback: 'cb' } });
  t.same(isScript(t, script, 'cb', 'too large under JSONP'), { error: 'too_large' });
  const fits = await s.send([{ cmd: 'ping', ts: 1, pad: 'y'.repeat(1500) }]);
  t.same(fits.body, { ok: true }, 'a body under the limit is taken');
  const pong = await s.until((m) => m.cmd === 'pong');
  t.equal(pong.ts, 1, 'the session still works');
});

t.test('a body that is not JSON gets 400 bad_json and the session stays valid', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  const { s } = await loggedIn(srv.url, 'Garbled');
  for (const [type, body] of [
    ['application/json', '[{not json'],
    ['text/plain', '[{"cmd":"ping"'],
    ['application/x-www-form-urlencoded', new URLSearchParams({ d: 'nope' }).toString()],
  ] as const) {
    const r = await s.send([], { type, body });
    isJson(t, r, 400, type);
    t.same(r.body, { error: 'bad_json' }, `${type}: bad_json`);
  }
  const byGet = await raw(srv.url, 'send', { query: { sid: s.sid, d: '{{', callback: 'cb' } });
  t.same(isScript(t, byGet, 'cb', 'bad JSON by JSONP GET'), { error: 'bad_json' });
  await s.send([{ cmd: 'ping', ts: 2 }]);
  t.equal((await s.until((m) => m.cmd === 'pong')).ts, 2, 'the session still works');
  t.notOk((await s.poll()).frames.some((f) => f.msg.cmd === 'error'), 'nothing of the bad bodies reached the core');
});

t.test('CORS: allowed origins are echoed, preflights answered, others refused with 403', async (t) => {
  const allowed = 'https://chat.example.org';
  const srv = await startServer({ ...QUICK, allowedOrigins: [allowed] });
  t.teardown(() => srv.close());
  for (const origin of [allowed, srv.url]) {
    const r = await raw(srv.url, 'open', { method: 'POST', headers: { origin } });
    isJson(t, r, 200, `open from ${origin}`);
    t.equal(r.headers.get('access-control-allow-origin'), origin, `${origin}: echoed`);
    t.match(r.headers.get('vary') ?? '', /origin/i, `${origin}: Vary: Origin`);
  }
  const s = await openSession(srv.url, { origin: allowed });
  for (const endpoint of ['open', 'poll', 'send', 'close']) {
    const pre = await raw(srv.url, endpoint, {
      method: 'OPTIONS',
      query: { sid: s.sid },
      headers: { origin: allowed, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    t.equal(pre.status, 204, `preflight ${endpoint}: 204`);
    t.equal(pre.headers.get('access-control-allow-origin'), allowed, `preflight ${endpoint}: origin`);
    t.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/, `preflight ${endpoint}: POST allowed`);
    t.match(pre.headers.get('access-control-allow-methods') ?? '', /GET/, `preflight ${endpoint}: GET allowed`);
    t.match(pre.headers.get('access-control-allow-headers') ?? '', /content-type/i, `preflight ${endpoint}: Content-Type allowed`);
  }
  const sent = await s.send([{ cmd: 'ping', ts: 3 }], { headers: { origin: allowed } });
  t.equal(sent.headers.get('access-control-allow-origin'), allowed, 'send echoes the origin');
  const polled = await s.pollRaw(0, { headers: { origin: allowed } });
  t.equal(polled.headers.get('access-control-allow-origin'), allowed, 'poll echoes the origin');

  const evil = 'https://evil.example.com';
  const conns = srv.server.hub.connectionCount;
  for (const endpoint of ['open', 'poll', 'send', 'close']) {
    const r = await raw(srv.url, endpoint, { method: 'POST', query: { sid: s.sid, ack: '0' }, type: 'application/json', body: '[{"cmd":"ping"}]', headers: { origin: evil } });
    isJson(t, r, 403, `${endpoint} from ${evil}`);
    t.same(r.body, { error: 'forbidden' }, `${endpoint} from ${evil}: forbidden`);
    // The refused page may read that it is refused (and nothing else), so that it can say so and stop trying.
    t.equal(r.headers.get('access-control-allow-origin'), evil, `${endpoint} from ${evil}: the refusal is readable`);
  }
  t.equal(srv.server.hub.connectionCount, conns, 'a refused open made no session');
  const pre = await raw(srv.url, 'send', { method: 'OPTIONS', headers: { origin: evil, 'access-control-request-method': 'POST' } });
  t.equal(pre.status, 403, 'a refused origin gets no preflight grant');
  t.equal(pre.headers.get('access-control-allow-origin'), null);
  const noOrigin = await raw(srv.url, 'open', { query: { callback: 'cb' } });
  t.equal(noOrigin.status, 200, 'no Origin (a script tag): allowed');
  const last = await s.poll(0);
  t.same(last.frames.map((f) => f.msg.ts), [3], 'the refused send reached nothing; the session survived');
});
