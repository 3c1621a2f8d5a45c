/**
 * `GET /metrics`: the counts move with traffic a test makes over WebSocket
 * and Comet, each server has its own registry, and the route follows
 * `--metrics` and the admin token.
 */
import t from 'tap';
import type { ChatClient } from './helpers/client.js';
import { cometConnect } from './helpers/comet-client.js';
import { startServer, type TestServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login, sendText } from './scenarios/chat.js';

const TOKEN = 'metrics-test-admin-token-0123456789';

type Samples = Map<string, number>;

/** Scrapes and parses the text format: `name{labels} value` lines into a map keyed by everything before the value. */
async function scrape(s: TestServer, headers: Record<string, string> = {}): Promise<Samples> {
  const res = await fetch(`${s.url}/metrics`, { headers });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${await res.text()}`);
  const out: Samples = new Map();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function value(samples: Samples, key: string): number {
  const v = samples.get(key);
  if (v === undefined) throw new Error(`no sample ${key}`);
  return v;
}

/** Scrapes until `key` has the wanted value (gauges follow connections that close asynchronously). */
async function until(s: TestServer, key: string, want: number, ms = 3000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = value(await scrape(s), key);
    if (v === want || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every answer to what was sent before arrives before the pong (one connection's messages are handled in order). */
async function settle(c: ChatClient): Promise<void> {
  const ts = Date.now() + Math.random();
  c.send({ cmd: 'ping', ts });
  await c.next((m) => m.cmd === 'pong' && m.ts === ts);
}

t.test('metrics follow traffic over WebSocket and Comet', async (t) => {
  const s = await startServer({ pollTimeout: 2000 });
  t.teardown(() => s.close());
  const res = await fetch(`${s.url}/metrics`);
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/, 'Prometheus text format');
  const before = await scrape(s);
  t.equal(value(before, 'webim_connections{transport="websocket"}'), 0);
  t.equal(value(before, 'webim_logins_total'), 0);
  t.equal(value(before, 'webim_bus_lag_seconds'), 0, 'the bus lag gauge exists, at 0 on one node');
  t.ok(before.has('process_cpu_user_seconds_total'), 'the process metrics are there too');

  const { c: alice } = await login(wsConnect(s.url), 'Alice');
  const { c: bob } = await login(cometConnect(s.url, 'json'), 'Bob');
  t.teardown(() => {
    alice.close();
    bob.close();
  });
  sendText(alice, { room: 'lobby' }, 'hello from ws');
  await alice.next('ack');
  await bob.next((m) => m.cmd === 'message' && m.body === 'hello from ws');
  sendText(bob, { room: 'lobby' }, 'hello from comet');
  await bob.next('ack');
  await alice.next((m) => m.cmd === 'message' && m.body === 'hello from comet');

  const after = await scrape(s);
  t.equal(value(after, 'webim_connections{transport="websocket"}'), 1);
  t.equal(value(after, 'webim_connections{transport="comet"}'), 1);
  t.equal(value(after, 'webim_connections{transport="sockjs"}'), 0);
  t.equal(value(after, 'webim_logins_total'), 2);
  t.equal(value(after, 'webim_online_users'), 2);
  t.equal(value(after, 'webim_messages_in_total{cmd="login"}'), 2);
  t.equal(value(after, 'webim_messages_in_total{cmd="send"}'), 2);
  t.equal(value(after, 'webim_store_append_seconds_count'), 2, 'each stored message is timed');
  t.ok(value(after, 'webim_store_append_seconds_sum') > 0);
  // Each got login, presence, 2 acks/echoes and the other's message, at the least.
  t.ok(value(after, 'webim_frames_out_total') >= 8, `frames out: ${value(after, 'webim_frames_out_total')}`);
  t.equal(await until(s, 'webim_comet_held_polls', 1), 1, "Bob's client keeps one poll held");

  const framesBefore = value(after, 'webim_frames_out_total');
  alice.send({ cmd: 'ping', ts: 1 });
  await alice.next('pong');
  t.equal(value(await scrape(s), 'webim_frames_out_total'), framesBefore + 1, 'a pong is one frame out');

  alice.close();
  bob.close();
  t.equal(await until(s, 'webim_connections{transport="websocket"}', 0), 0, 'a closed socket is no longer counted');
  t.equal(await until(s, 'webim_connections{transport="comet"}', 0), 0, 'an ended session is no longer counted');
  t.equal(await until(s, 'webim_comet_held_polls', 0), 0);
});

t.test('errors by code and rate-limit refusals', async (t) => {
  const s = await startServer({ rateLimit: 5, rateBurst: 10 });
  t.teardown(() => s.close());
  const { c } = await login(wsConnect(s.url), 'Mallet');
  t.teardown(() => c.close());
  c.sendRaw('this is not json');
  t.equal((await c.next('error')).code, 'bad_json');
  c.send({ cmd: 'dance' });
  t.equal((await c.next('error')).code, 'unknown_cmd');
  c.send({ cmd: 'join', room: 'NOT A ROOM' });
  t.equal((await c.next('error')).code, 'bad_request');
  let samples = await scrape(s);
  t.equal(value(samples, 'webim_errors_total{code="bad_json"}'), 1);
  t.equal(value(samples, 'webim_errors_total{code="unknown_cmd"}'), 1);
  t.equal(value(samples, 'webim_errors_total{code="bad_request"}'), 1);
  t.equal(value(samples, 'webim_messages_in_total{cmd="invalid"}'), 1, 'text that is no command');
  t.equal(value(samples, 'webim_messages_in_total{cmd="unknown"}'), 1, 'an unknown cmd is not a label of its own');
  t.notOk([...samples.keys()].some((k) => k.includes('dance')), 'client text never becomes a label');
  t.equal(value(samples, 'webim_rate_limited_total'), 0);

  // Four of the burst of 10 are spent: 12 at once overflow it, yet stay under the 10 refusals in a row that end the connection.
  for (let i = 0; i < 12; i++) c.send({ cmd: 'online' });
  await settle(c);
  const refused = c.log.filter((m) => m.cmd === 'error' && m.code === 'rate_limited').length;
  t.ok(refused >= 1, `${refused} refused`);
  samples = await scrape(s);
  t.equal(value(samples, 'webim_rate_limited_total'), refused);
  t.equal(value(samples, 'webim_errors_total{code="rate_limited"}'), refused);
  t.equal(value(samples, 'webim_messages_in_total{cmd="online"}'), 12, 'refused messages were still taken in');
  t.notOk(c.log.some((m) => m.cmd === 'bye'), 'the connection stays');
});

t.test('every server has its own registry', async (t) => {
  const a = await startServer();
  t.teardown(() => a.close());
  const b = await startServer();
  t.teardown(() => b.close());
  const { c } = await login(wsConnect(a.url), 'Solo');
  t.teardown(() => c.close());
  t.equal(value(await scrape(a), 'webim_logins_total'), 1);
  t.equal(value(await scrape(b), 'webim_logins_total'), 0, 'the other server counted nothing');
});

t.test('--no-metrics turns the route off', async (t) => {
  const s = await startServer({ metrics: false });
  t.teardown(() => s.close());
  const res = await fetch(`${s.url}/metrics`);
  t.equal(res.status, 404);
  await res.text();
});

t.test('with an admin token, /metrics stays open and refuses a wrong token', async (t) => {
  const s = await startServer({ adminToken: TOKEN });
  t.teardown(() => s.close());
  t.ok((await scrape(s)).has('webim_logins_total'), 'no credentials: served');
  t.ok((await scrape(s, { authorization: `Bearer ${TOKEN}` })).has('webim_logins_total'), 'the admin token: served');
  const res = await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer not-the-token' } });
  t.equal(res.status, 401);
  t.match(await res.json(), { error: 'unauthorized' });
});
