/**
 * Slowloris (issue 7, resource exhaustion): many sockets that trickle
 * their request one byte at a time, never finishing it, on the HTTP port,
 * on the inline Flash policy answer of that port, and on the standalone
 * policy listener. Each is dropped by its configured deadline (HTTP
 * headers: --header-timeout; policy: 3 s, shortened here), not kept alive
 * by the trickle, and two users keep chatting meanwhile. The attackers
 * come from 127.0.0.5, the users from 127.0.0.1.
 */
import { createConnection } from 'node:net';
import t from 'tap';
import { POLICY_REQUEST, policyLimits } from '../src/common/flash-policy.js';
import { createPolicyServer } from '../transports/flash-policy-server.js';
import { converse, trickle, type Trickle } from './helpers/attack.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';

const ATTACKER = '127.0.0.5';
const SOCKETS = 150;

function summary(results: Trickle[]): { open: number; slowest: number } {
  let open = 0;
  let slowest = 0;
  for (const r of results) {
    if (r.closedAfter === undefined) open++;
    else slowest = Math.max(slowest, r.closedAfter);
  }
  return { open, slowest };
}

t.test('HTTP port: trickled headers and silent sockets are cut by the header timeout while users chat', async (t) => {
  const headerTimeout = 1000;
  const s = await startServer({ headerTimeout });
  t.teardown(() => s.close());
  const chat = await converse(wsConnect(s.url), ['Alice', 'Bob']);
  // Node checks header deadlines once a second (server.ts): a socket may live up to timeout + 1 s, plus scheduling slack.
  const giveUp = headerTimeout + 4000;
  const head = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n';
  const attacks = [
    ...Array.from({ length: SOCKETS }, () => trickle(s.port, ATTACKER, head, 'X-Slow: aaaaaaaaaaaaaaaa', 100, giveUp)),
    // Sockets that say nothing at all are timed by the Flash first-byte demultiplexer with the same timeout.
    ...Array.from({ length: 50 }, () => trickle(s.port, ATTACKER, '', '', 100, giveUp)),
  ];
  const results = await Promise.all(attacks);
  const { sent, received, acked } = await chat.stop();
  const { open, slowest } = summary(results);
  t.equal(open, 0, `every one of ${results.length} sockets was closed by the server (slowest after ${slowest} ms)`);
  t.ok(results.every((r) => r.data.length === 0 || r.data.toString('latin1').startsWith('HTTP/1.1 408')), 'with 408 or nothing, never a 200');
  t.ok(results.slice(0, SOCKETS).every((r) => r.sent > head.length), 'the trickling sockets kept sending until cut');
  t.ok(received >= 5, `the users chatted throughout (${sent} messages)`);
  t.equal(received, acked, 'every acked message reached the other user');
  t.equal((await fetch(`${s.url}/healthz`)).status, 200, 'the port still serves HTTP');
});

t.test('inline Flash policy: trickled policy requests on the HTTP port are cut at the policy deadline', async (t) => {
  const saved = policyLimits.timeoutMs;
  policyLimits.timeoutMs = 1000;
  t.teardown(() => {
    policyLimits.timeoutMs = saved;
  });
  const s = await startServer();
  t.teardown(() => s.close());
  const chat = await converse(wsConnect(s.url), ['Carol', 'Dave']);
  // 23 bytes at one per 150 ms would take 3.4 s: the 1 s deadline from the first byte must cut it first.
  const rest = POLICY_REQUEST.subarray(1).toString('latin1');
  const results = await Promise.all(Array.from({ length: SOCKETS }, () => trickle(s.port, ATTACKER, '<', rest, 150, 5000)));
  const { sent, received, acked } = await chat.stop();
  const { open, slowest } = summary(results);
  t.equal(open, 0, `every one of ${SOCKETS} policy sockets was closed (slowest after ${slowest} ms)`);
  t.ok(results.every((r) => r.data.length === 0), 'none got the policy or anything else');
  t.ok(results.every((r) => r.sent < POLICY_REQUEST.length), 'each was cut before its request was complete');
  t.ok(received >= 5, `the users chatted throughout (${sent} messages)`);
  t.equal(received, acked, 'every acked message reached the other user');
  t.equal((await fetch(`${s.url}/healthz`)).status, 200, 'the port still serves HTTP');
});

t.test('standalone Flash policy listener: trickling sockets are cut, the cap holds, and it serves again afterwards', async (t) => {
  const maxConnections = 50;
  const outcomes = new Map<string, number>();
  const policy = createPolicyServer({
    domains: ['*'],
    ports: ['8080'],
    limits: { timeoutMs: 2000, maxConnections },
    onOutcome: (o) => outcomes.set(o, (outcomes.get(o) ?? 0) + 1),
  });
  const { port } = await policy.listen(0, '127.0.0.1');
  t.teardown(() => policy.close());
  const rest = POLICY_REQUEST.subarray(1).toString('latin1');
  // 23 bytes at one per 150 ms take 3.4 s; the deadline is 2 s.
  const flood = Array.from({ length: SOCKETS }, () => trickle(port, ATTACKER, '<', rest, 150, 6000));
  // While the flood holds every slot, one more connection is turned away at once rather than queued.
  for (const deadline = Date.now() + 1500; (outcomes.get('busy') ?? 0) < SOCKETS - maxConnections && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const meanwhile = await trickle(port, '127.0.0.1', POLICY_REQUEST, '', 100, 3000);
  const results = await Promise.all(flood);
  const { open, slowest } = summary(results);
  t.equal(open, 0, `every one of ${SOCKETS} sockets was closed (slowest after ${slowest} ms)`);
  t.ok(results.every((r) => r.data.length === 0), 'none got the policy');
  t.equal(outcomes.get('timeout'), maxConnections, `${maxConnections} (the cap) were served and cut at the deadline`);
  t.ok((outcomes.get('busy') ?? 0) >= SOCKETS - maxConnections, 'the rest were refused at once as over the cap');
  t.equal(meanwhile.data.length, 0, 'a request during the flood finds the listener full');
  const after = await trickle(port, '127.0.0.1', POLICY_REQUEST, '', 100, 3000);
  t.match(after.data.toString('utf8'), /<cross-domain-policy>[\s\S]*\0$/, 'after the flood a request gets the policy');
});

t.test('idle keep-alive connections are closed after --keep-alive-timeout, so finished requests hold no socket', async (t) => {
  const keepAliveTimeout = 300;
  const s = await startServer({ keepAliveTimeout });
  t.teardown(() => s.close());
  const socket = createConnection({ port: s.port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  const sentAt = Date.now();
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
  const closedAt = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
  socket.destroy();
  t.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 200/, 'the request was answered on the kept-alive socket');
  t.not(closedAt, -1, 'the server closed the idle socket');
  t.ok(closedAt - sentAt >= keepAliveTimeout - 50, `not before the timeout (after ${closedAt - sentAt} ms)`);
});
