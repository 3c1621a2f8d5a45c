/**
 * Long-poll specifics of the Comet transport (docs/protocol.md section 4), with
 * raw HTTP so that statuses and timings are asserted: held polls, lost
 * answers sent again, overlapping polls, session expiry and the presence
 * that follows, close, unknown sessions, the bounded session buffer,
 * ordering of overlapping sends, and shutdown.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import type { Msg } from './helpers/client.js';
import { type Frame, asPoll, loggedIn, openSession, raw, sleep } from './helpers/comet-raw.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login, sendText } from './scenarios/chat.js';

const POLL = 300;
/** Short polls; sessions that never expire during a test, however slow the machine. */
const QUICK = { pollTimeout: POLL, sessionTimeout: 60000 };
const isBody = (body: string) => (m: Msg) => m.cmd === 'message' && m.body === body;
const offline = (id: string) => (m: Msg) => m.cmd === 'presence' && m.event === 'offline' && (m.user as { id: string }).id === id;

t.test('a held poll is answered when a message arrives, and with no frames after the timeout', async (t) => {
  // A longer timeout here, so that an answer caused by the message is told apart from one caused by the timeout.
  const hold = 1000;
  const srv = await startServer({ pollTimeout: hold });
  t.teardown(() => srv.close());
  const { s } = await loggedIn(srv.url, 'Alice');
  const { c: bob } = await login(wsConnect(srv.url), 'Bob');
  // A new user's login sends `online`, then `join` of the lobby: after that there is nothing left to send.
  await s.until((m) => m.cmd === 'presence' && m.event === 'join');

  const idleRaw = await s.pollRaw();
  const idle = asPoll(idleRaw);
  t.same(idle.frames, [], 'nothing to say: no frames');
  t.equal(idle.seq, s.ack, 'seq is the highest assigned so far');
  t.ok(idleRaw.ms >= hold - 50 && idleRaw.ms < hold + 1000, `an idle poll is held for about the timeout (${idleRaw.ms} ms)`);

  let settled = false;
  const held = s.poll().finally(() => (settled = true));
  await sleep(100);
  t.notOk(settled, 'the poll is held while there is nothing to send');
  sendText(bob, { room: 'lobby' }, 'wake up');
  const started = Date.now();
  const answer = await held;
  t.ok(Date.now() - started < hold / 2, `answered when the message arrived (${Date.now() - started} ms)`);
  t.equal(answer.frames.length, 1);
  t.match(answer.frames[0], { seq: s.ack + 1, msg: { cmd: 'message', body: 'wake up', from: { id: 'bob' } } });
  t.equal(answer.seq, s.ack + 1);
  bob.close();
});

t.test('a lost poll answer is sent again: a poll with the old ack gets the same frames', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  const s = await openSession(srv.url);
  await s.send([{ cmd: 'login', name: 'Lossy' }, { cmd: 'ping', ts: 1 }, { cmd: 'ping', ts: 2 }]);
  let first: Frame[] = [];
  for (let i = 0; i < 10 && !first.some((f) => f.msg.ts === 2); i++) first = (await s.poll(0)).frames;
  t.same(first.map((f) => f.msg.cmd), ['login', 'pong', 'pong'], 'three frames, none acked');
  t.same(first.map((f) => f.seq), [1, 2, 3], 'numbered from 1');
  const again = await s.poll(0);
  t.same(again.frames, first, 'the same frames again, same seq, same messages');
  t.equal(again.seq, 3);
  const rest = await s.poll(1);
  t.same(rest.frames, first.slice(1), 'ack=1 drops the first frame only');
  const empty = await s.poll(3);
  t.same(empty.frames, [], 'all acked: nothing to send');
  const late = await s.poll(0);
  t.same(late.frames, [], 'acked frames are dropped by the server, not sent again');
  await s.send([{ cmd: 'ping', ts: 3 }]);
  const next = await s.poll(3);
  t.match(next.frames, [{ seq: 4, msg: { cmd: 'pong', ts: 3 } }], 'numbering goes on');
});

t.test('a second poll answers the held one at once with no frames', async (t) => {
  const srv = await startServer({ pollTimeout: 3000 });
  t.teardown(() => srv.close());
  const { s } = await loggedIn(srv.url, 'Twice');
  const firstPoll = s.poll();
  await sleep(100);
  const started = Date.now();
  const secondPoll = s.poll();
  const first = await firstPoll;
  t.ok(Date.now() - started < 1000, `the first poll was answered at once (${Date.now() - started} ms)`);
  t.same(first.frames, [], 'with no frames');
  let settled = false;
  void secondPoll.finally(() => (settled = true));
  await sleep(100);
  t.notOk(settled, 'the second poll is held');
  await s.send([{ cmd: 'ping', ts: 7 }]);
  const second = await secondPoll;
  t.match(second.frames, [{ msg: { cmd: 'pong', ts: 7 } }], 'the second poll gets the frame');
  t.equal(second.frames[0]?.seq, s.ack + 1);
});

t.test('a session with no poll for 2 x timeout ends like a closed WebSocket', async (t) => {
  const srv = await startServer({ pollTimeout: POLL });
  t.teardown(() => srv.close());
  const { c: bob } = await login(wsConnect(srv.url), 'Bob');
  const { s: alice } = await loggedIn(srv.url, 'Alice');
  const { c: daveWs, me: dave } = await login(wsConnect(srv.url), 'Dave');
  const { s: daveComet } = await loggedIn(srv.url, 'Dave', { token: dave.token });
  const { s: carol } = await loggedIn(srv.url, 'Carol');
  await bob.next((m) => m.cmd === 'presence' && m.event === 'online' && (m.user as { id: string }).id === 'carol');
  await alice.poll(); // the last poll of alice and daveComet: their sessions end about 2 x 300 ms after it
  await daveComet.poll();
  const lastPoll = Date.now();

  // Carol keeps polling for 4 x timeout: a session that is polled does not end.
  const keepPolling = (async () => {
    while (Date.now() - lastPoll < 4 * POLL) {
      const a = await carol.poll();
      for (const f of a.frames) carol.ack = Math.max(carol.ack, f.seq);
    }
  })();
  const off = await bob.next(offline('alice'), 3000);
  const after = Date.now() - lastPoll;
  t.ok(after >= 2 * POLL - 100, `not before 2 x timeout (${after} ms)`);
  t.ok(after < 2 * POLL + 1500, `soon after 2 x timeout (${after} ms)`);
  t.match(off.user, { id: 'alice', name: 'Alice' });
  const gone = await alice.pollRaw();
  t.equal(gone.status, 404, 'the ended session is unknown');
  t.same(gone.body, { error: 'unknown_session' });
  t.equal((await daveComet.pollRaw()).status, 404, "dave's Comet session ended too");
  t.ok(await bob.quiet(offline('dave'), 200), 'no offline for a user who still has a WebSocket connection');
  await keepPolling;
  t.equal((await carol.pollRaw(carol.ack, { query: { _: '1' } })).status, 200, 'a polled session stays');
  t.notOk(bob.log.some(offline('carol')), 'no offline for carol');
  bob.close();
  daveWs.close();
});

t.test('--session-timeout sets the expiry instead of 2 x timeout', async (t) => {
  const srv = await startServer({ pollTimeout: 200, sessionTimeout: 1500 });
  t.teardown(() => srv.close());
  const s = await openSession(srv.url);
  t.equal(s.timeout, 200);
  await sleep(700);
  const alive = await s.pollRaw();
  t.equal(alive.status, 200, 'still valid after 3.5 x poll timeout');
});

t.test('close ends the session at once, and answers the held poll', async (t) => {
  const srv = await startServer({ pollTimeout: 3000 });
  t.teardown(() => srv.close());
  const { c: bob } = await login(wsConnect(srv.url), 'Bob');
  const { s } = await loggedIn(srv.url, 'Closer');
  const held = s.pollRaw();
  await sleep(100);
  const started = Date.now();
  const closed = await s.close();
  t.equal(closed.status, 200);
  t.match(closed.headers.get('cache-control'), /no-store/);
  const answer = await held;
  t.ok(Date.now() - started < 1000, `the held poll was answered at once (${Date.now() - started} ms, HTTP ${answer.status})`);
  t.match((await bob.next(offline('closer'))).user, { id: 'closer' });
  const after = await s.pollRaw();
  t.equal(after.status, 404);
  t.same(after.body, { error: 'unknown_session' });
  bob.close();
});

t.test('an unknown sid gets 404 unknown_session, 200 under JSONP', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  for (const endpoint of ['poll', 'send', 'close']) {
    for (const method of ['GET', 'POST']) {
      const query: Record<string, string> = { sid: 'AAAAAAAAAAAAAAAAAAAAAA', ack: '0', d: '[{"cmd":"ping"}]' };
      const json = await raw(srv.url, endpoint, { method, query });
      t.equal(json.status, 404, `${method} ${endpoint}: 404`);
      t.same(json.body, { error: 'unknown_session' }, `${method} ${endpoint}: unknown_session`);
      t.match(json.headers.get('content-type'), /^application\/json/);
      t.match(json.headers.get('cache-control'), /no-store/);
      const jsonp = await raw(srv.url, endpoint, { method, query: { ...query, callback: 'cb' } });
      t.equal(jsonp.status, 200, `${method} ${endpoint} JSONP: 200`);
      t.equal(jsonp.text, '/**/cb({"error":"unknown_session"});');
      t.match(jsonp.headers.get('content-type'), /^application\/javascript/);
    }
  }
});

t.test('a session that falls too far behind ends with bye reconnect:true', async (t) => {
  const srv = await startServer({ pollTimeout: POLL, sessionTimeout: 10000, sendBufferLimit: 4096 });
  t.teardown(() => srv.close());
  const { c: talker } = await login(wsConnect(srv.url), 'Talker');
  const { s } = await loggedIn(srv.url, 'Sleepy');
  // Sleepy stops polling; about 20 frames of 500 bytes overflow its 4 KiB buffer.
  for (let i = 0; i < 30 && !talker.log.some(offline('sleepy')); i++) {
    sendText(talker, { room: 'lobby' }, `${i} ${'z'.repeat(500)}`);
    await talker.next('ack');
  }
  t.match((await talker.next(offline('sleepy'), 2000)).user, { id: 'sleepy' }, 'the session ended');
  const last = await s.pollRaw();
  t.equal(last.status, 200, 'the next poll still gets what was queued');
  const frames = (last.body as { frames: Frame[] }).frames;
  t.match(frames.at(-1)?.msg, { cmd: 'bye', reconnect: true }, 'ending with bye reconnect:true');
  t.ok(frames.length >= 2, `and the frames before it (${frames.length})`);
  const seqs = frames.map((f) => f.seq);
  t.same(seqs, seqs.map((_, i) => (seqs[0] ?? 0) + i), 'in seq order, no gaps');
  const then = await s.pollRaw((frames.at(-1)?.seq ?? 0));
  t.equal(then.status, 404, 'after the bye: unknown_session');
  talker.close();
});

/** A send whose body is written in two parts, `gapMs` apart, on its own connection. */
function slowSend(url: string, sid: string, body: string, gapMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = request({ hostname, port, method: 'POST', path: `/comet/send?sid=${sid}`, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    const half = Math.floor(body.length / 2);
    req.write(body.slice(0, half));
    setTimeout(() => req.end(body.slice(half)), gapMs);
  });
}

t.test('messages of one session are processed in the order sent, even when send requests overlap', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  const { s } = await loggedIn(srv.url, 'Orderly');
  const send = (body: string, cid: string) => ({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body, cid });
  // The first request starts first and its body finishes last; the second overtakes it on another socket.
  const slow = slowSend(srv.url, s.sid, JSON.stringify([send('first', 'o1')]), 200);
  await sleep(50);
  const fast = s.send([send('second', 'o2')]);
  t.same([await slow, (await fast).status], [200, 200]);
  const acks: Msg[] = [];
  while (acks.length < 2) acks.push(await s.until((m) => m.cmd === 'ack'));
  t.same(acks.map((a) => [a.cid, a.offset]), [['o1', 1], ['o2', 2]], 'the request sent first is processed first');

  // Two requests pipelined on one socket.
  const pipelined = await new Promise<string>((resolve, reject) => {
    const { hostname, port } = new URL(srv.url);
    const one = (cid: string) => {
      const body = JSON.stringify([send(cid, cid)]);
      return `POST /comet/send?sid=${s.sid} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    };
    // Both requests in one write; the socket closes once both are answered.
    const sock = connect(Number(port), hostname, () => sock.end(one('p1') + one('p2').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')));
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString()));
    sock.on('close', () => resolve(text));
    sock.on('error', reject);
  });
  t.equal(pipelined.match(/HTTP\/1\.1 200/g)?.length, 2, 'both pipelined requests answered');
  const more: Msg[] = [];
  while (more.length < 2) more.push(await s.until((m) => m.cmd === 'ack'));
  t.same(more.map((a) => [a.cid, a.offset]), [['p1', 3], ['p2', 4]], 'pipelined sends keep their order');
  t.ok((await s.until(isBody('p2'))).offset === 4);
});

t.test('shutdown answers held polls at once with bye shutdown reconnect:true', async (t) => {
  const srv = await startServer({ pollTimeout: 5000, shutdownGrace: 1000 });
  const { s: json } = await loggedIn(srv.url, 'Jason');
  const { s: script } = await loggedIn(srv.url, 'Scripty');
  await json.until((m) => m.cmd === 'presence' && m.event === 'join'); // nothing left to send: the next poll is held
  const heldJson = json.poll();
  const heldJsonp = script.pollRaw(script.ack, { query: { callback: 'on.poll' } });
  await sleep(300); // both polls are held at the server by now
  const started = Date.now();
  const closing = srv.close();
  const a = await heldJson;
  t.ok(Date.now() - started < 1000, `the held poll was answered at once (${Date.now() - started} ms)`);
  t.match(a.frames.at(-1)?.msg, { cmd: 'bye', code: 'shutdown', reconnect: true });
  const b = await heldJsonp;
  t.equal(b.status, 200);
  t.match((b.body as { frames: Frame[] }).frames.at(-1)?.msg, { cmd: 'bye', code: 'shutdown', reconnect: true }, 'JSONP too');
  await closing;
  t.ok(Date.now() - started < 3000, `the server closed in ${Date.now() - started} ms`);
});

t.test('shutdown: a session between two polls still gets its bye on its next poll', async (t) => {
  const srv = await startServer({ pollTimeout: 5000, shutdownGrace: 1000 });
  const { s } = await loggedIn(srv.url, 'Between');
  // The client has just had an answer and has not polled again when the server starts to shut down.
  const closing = srv.close();
  await sleep(50);
  const next = await s.pollRaw().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  if (next instanceof Error) {
    t.fail(`the next poll did not reach the server during the grace: ${(next.cause as Error | undefined)?.message ?? next.message}`);
  } else {
    const frames = (next.body as { frames?: Frame[] } | undefined)?.frames ?? [];
    t.match(frames.at(-1)?.msg, { cmd: 'bye', code: 'shutdown', reconnect: true }, `the next poll gets the bye (HTTP ${next.status})`);
  }
  await closing;
});

t.test('Comet sessions count against the per-IP connection cap', async (t) => {
  const srv = await startServer({ ...QUICK, maxConnectionsPerIp: 2 });
  t.teardown(() => srv.close());
  const a = await openSession(srv.url);
  await openSession(srv.url);
  const third = await raw(srv.url, 'open', { method: 'POST' });
  let refused = third.status !== 200;
  if (!refused) {
    // Accepted like an over-the-cap WebSocket: then its first poll must say bye too_many_connections.
    const sid = (third.body as { sid: string }).sid;
    const first = await raw(srv.url, 'poll', { query: { sid, ack: '0' } });
    refused = (first.body as { frames?: Frame[] }).frames?.some((f) => f.msg.cmd === 'bye' && f.msg.code === 'too_many_connections') === true;
  }
  t.ok(refused, `a third session from one address is refused (open: HTTP ${third.status} ${third.text})`);
  t.equal(srv.server.hub.connectionCount, 2, 'the core holds two connections');
  await a.close();
  const again = await openSession(srv.url);
  await again.send([{ cmd: 'ping', ts: 1 }]);
  t.equal((await again.until((m) => m.cmd === 'pong')).ts, 1, 'a freed slot is usable again');
});
