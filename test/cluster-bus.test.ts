/**
 * The Redis bus between two nodes in one process: two servers share one
 * memory store (as nodes share PostgreSQL) and one Redis under a key
 * prefix of this test's own. Users on different nodes see each other's
 * presence, chat in rooms and in private, and get one order of offsets;
 * a guest name online on one node is taken on the other. The same
 * scenarios with real processes and PostgreSQL: cluster-nodes.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import t from 'tap';
import { defaultConfig } from '../src/config.js';
import { createServer, type WebimServer } from '../src/server.js';
import { MemoryStore } from '../src/store/memory.js';
import type { ChatClient, Msg } from './helpers/client.js';
import { dropPrefix, requireRedis, testPrefix } from './helpers/redis.js';
import { wsConnect } from './helpers/ws-client.js';

const ADMIN = 'cluster-admin-token-0123456789';
const SECRET = 'cluster-bus-test-secret-0123456789';
const redis = await requireRedis(t);
if (redis !== undefined) {
  const prefix = testPrefix();
  const store = new MemoryStore();
  const dataDir = mkdtempSync(join(tmpdir(), 'webim-cluster-'));
  const node = async (): Promise<{ server: WebimServer; url: string }> => {
    const config = defaultConfig({
      port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', dataDir, shutdownGrace: 100,
      tokenSecret: SECRET, adminToken: ADMIN, redis, redisPrefix: prefix, nodeHeartbeat: 200, nodeTimeout: 1000,
    });
    const server = await createServer(config, store);
    const { port } = await server.listen();
    return { server, url: `http://127.0.0.1:${port}` };
  };
  const a = await node();
  const b = await node();
  const clients: ChatClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await b.server.close();
    await a.server.close();
    await dropPrefix(redis, prefix);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const login = async (url: string, name: string, extra: object = {}): Promise<{ c: ChatClient; reply: Msg }> => {
    const c = await wsConnect(url)();
    clients.push(c);
    c.send({ cmd: 'login', name, ...extra });
    const reply = await c.next((m) => m.cmd === 'login' || m.cmd === 'error');
    return { c, reply };
  };
  const names = (users: unknown) => (users as Array<{ name: string }>).map((u) => u.name).sort();

  const alice = await login(a.url, 'Alice');
  let bob = await login(b.url, 'Bob');

  t.test('presence and the online list cross nodes', async (t) => {
    t.same(names(bob.reply.online), ['Alice', 'Bob'], "Bob's login on node B lists Alice of node A");
    const seen = await alice.c.next((m) => m.cmd === 'presence' && m.event === 'online');
    t.equal((seen.user as { name: string }).name, 'Bob', 'Alice hears that Bob came online');
    alice.c.send({ cmd: 'online' });
    t.same(names((await alice.c.next('online')).users), ['Alice', 'Bob']);
    const lobby = (bob.reply.rooms as Array<{ name: string; members: number }>).find((r) => r.name === 'lobby');
    t.equal(lobby?.members, 2, 'room counts include users of other nodes');
  });

  t.test('a guest name online on one node is taken on the other; its token lets a second device in', async (t) => {
    const again = await login(b.url, 'alice');
    t.match(again.reply, { cmd: 'error', code: 'name_taken' });
    const device = await login(b.url, 'Alice', { token: alice.reply.token });
    t.equal(device.reply.cmd, 'login', 'the token of the first login proves the identity');
    t.ok(await alice.c.quiet((m) => m.cmd === 'presence' && m.event === 'online', 300), 'a second device is no new `online`');
    device.c.close();
    t.ok(await alice.c.quiet((m) => m.cmd === 'presence' && m.event === 'offline', 500), 'nor is its end an `offline`: Alice is still on node A');
  });

  t.test("a token user's id: its first token login on one node ends a guest of it on the other, and guests stay out", async (t) => {
    const token = await new SignJWT({ name: 'Zoe' }).setProtectedHeader({ alg: 'HS256' }).setSubject('zoe')
      .setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
    const guest = await login(b.url, 'Zoe');
    t.equal(guest.reply.cmd, 'login', 'a guest takes the name on node B before the host user ever logged in');
    const owner = await login(a.url, 'Zoe', { token });
    t.match(owner.reply, { cmd: 'login', user: { id: 'zoe' } }, 'the token login on node A');
    t.match(await guest.c.next('bye'), { code: 'kicked', reconnect: false }, 'the guest on node B is ended');
    const byToken = await login(b.url, 'Zoe', { token: guest.reply.token });
    t.match(byToken.reply, { cmd: 'error', code: 'name_taken' }, 'the guest token is refused on node B');
    const device = await login(b.url, 'Zoe', { token: owner.reply.token });
    t.equal(device.reply.cmd, 'login', "the token user's second device on node B");
    t.ok(await owner.c.quiet('bye', 200), 'the first device stays');
    owner.c.close();
    device.c.close();
    for (let i = 0; i < 100 && b.server.hub.cluster.isOnline('zoe'); i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(b.server.hub.cluster.isOnline('zoe'), false, 'Zoe is offline everywhere');
    const byName = await login(b.url, 'zoe');
    t.match(byName.reply, { cmd: 'error', code: 'name_taken' }, 'a guest of the name is refused on node B while Zoe is offline too');
  });

  t.test('room and private messages reach the other node, offline messages too', async (t) => {
    alice.c.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'hello from A', cid: 'a1' });
    const ack = await alice.c.next('ack');
    const got = await bob.c.next((m) => m.cmd === 'message' && m.cid === 'a1');
    t.equal(got.offset, ack.offset, 'same offset on both nodes');
    bob.c.send({ cmd: 'send', to: { user: 'alice' }, type: 'text', body: 'psst', cid: 'b1' });
    const dm = await alice.c.next((m) => m.cmd === 'message' && m.cid === 'b1');
    t.equal(dm.channel, 'dm:alice:bob');
    await bob.c.next((m) => m.cmd === 'message' && m.cid === 'b1');

    const carol = await login(a.url, 'Carol');
    carol.c.close();
    await bob.c.next((m) => m.cmd === 'presence' && m.event === 'offline' && (m.user as { id: string }).id === 'carol');
    bob.c.send({ cmd: 'send', to: { user: 'carol' }, type: 'text', body: 'while you were out', cid: 'b2' });
    await bob.c.next((m) => m.cmd === 'ack' && m.cid === 'b2');
    // Her name is held for her on every node: she comes back with her token.
    const back = await login(b.url, 'Carol', { token: carol.reply.token });
    t.equal(back.reply.cmd, 'login');
    const kept = await back.c.next((m) => m.cmd === 'message' && m.cid === 'b2');
    t.equal(kept.body, 'while you were out', 'an offline message waits for the next login, on whichever node');
    back.c.close();
  });

  t.test('joins, members and typing cross nodes', async (t) => {
    alice.c.send({ cmd: 'join', room: 'x' });
    await alice.c.next('joined');
    // The bus is asynchronous: wait until node B has heard of the join (a client of B could not tell either).
    for (let i = 0; i < 40; i++) {
      bob.c.send({ cmd: 'online', room: 'x' });
      const m = await bob.c.next((m) => (m.cmd === 'online' && m.room === 'x') || m.cmd === 'error');
      if (m.cmd === 'online' && names(m.users).includes('Alice')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    bob.c.send({ cmd: 'join', room: 'x' });
    const joined = await bob.c.next('joined');
    t.same(names(joined.members), ['Alice', 'Bob'], 'members of the room on both nodes');
    const p = await alice.c.next((m) => m.cmd === 'presence' && m.event === 'join' && m.room === 'x');
    t.equal((p.user as { name: string }).name, 'Bob');
    bob.c.send({ cmd: 'typing', to: { room: 'x' } });
    const typing = await alice.c.next('typing');
    t.equal((typing.from as { name: string }).name, 'Bob');
    bob.c.send({ cmd: 'leave', room: 'x' });
    await alice.c.next((m) => m.cmd === 'presence' && m.event === 'leave' && m.room === 'x');
  });

  t.test('two nodes writing one room: every receiver sees offsets 1..N in one order', async (t) => {
    alice.c.send({ cmd: 'join', room: 'race' });
    bob.c.send({ cmd: 'join', room: 'race' });
    await alice.c.next('joined');
    await bob.c.next('joined');
    const n = 30;
    for (let i = 0; i < n; i++) {
      alice.c.send({ cmd: 'send', to: { room: 'race' }, type: 'text', body: `a${i}`, cid: `ra${i}` });
      bob.c.send({ cmd: 'send', to: { room: 'race' }, type: 'text', body: `b${i}`, cid: `rb${i}` });
    }
    const offsets = async (c: ChatClient) => {
      const out: number[] = [];
      while (out.length < 2 * n) out.push((await c.next((m) => m.cmd === 'message' && m.channel === 'room:race')).offset as number);
      return out;
    };
    const [oa, ob] = await Promise.all([offsets(alice.c), offsets(bob.c)]);
    const expected = Array.from({ length: 2 * n }, (_, i) => i + 1);
    t.same(oa, expected, 'node A delivers 1..N in order');
    t.same(ob, expected, 'node B delivers 1..N in order');
  });

  t.test("a node keeps no order for the private conversations of users it does not hold", async (t) => {
    const carl = await login(a.url, 'Carl');
    const dana = await login(a.url, 'Dana');
    for (let i = 0; i < 3; i++) {
      carl.c.send({ cmd: 'send', to: { user: 'dana' }, type: 'text', body: `cd${i}`, cid: `cd${i}` });
      await dana.c.next((m) => m.cmd === 'message' && m.cid === `cd${i}`);
    }
    alice.c.send({ cmd: 'send', to: { user: 'bob' }, type: 'text', body: 'for bob', cid: 'ab-keep' });
    const keep = await bob.c.next((m) => m.cmd === 'message' && m.cid === 'ab-keep');
    const seqB = b.server.hub.cluster.sequencer;
    if (!seqB) throw new Error('node B has no sequencer: not on the Redis bus');
    // Carl's events reach node B in the order he published them: once his lobby message is there, so are the three above.
    carl.c.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'marker', cid: 'cd-marker' });
    await bob.c.next((m) => m.cmd === 'message' && m.cid === 'cd-marker');
    t.equal(seqB.last('dm:carl:dana'), undefined, 'node B keeps no order for a conversation of two users on node A');
    seqB.sweep();
    t.equal(seqB.last('dm:alice:bob'), keep.offset, 'and keeps the one of Bob, who is on it, through a sweep');
    const gauge = (text: string) => Number(/^webim_ordered_channels (\S+)$/m.exec(text)?.[1]);
    t.equal(gauge(await (await fetch(`${b.url}/metrics`)).text()), seqB.size, 'webim_ordered_channels counts what node B keeps');
    t.ok(seqB.size > 0, 'its rooms and Bob\'s conversation');

    // Dana moves to node B: the conversation is followed there again, from her login's replay, in order.
    dana.c.close();
    await dana.c.closed;
    carl.c.send({ cmd: 'send', to: { user: 'dana' }, type: 'text', body: 'while away', cid: 'cd-away' });
    await carl.c.next((m) => m.cmd === 'ack' && m.cid === 'cd-away');
    const danaB = await login(b.url, 'Dana', { token: dana.reply.token });
    t.equal((await danaB.c.next((m) => m.cmd === 'message' && m.channel === 'dm:carl:dana')).body, 'while away', 'the offline message is replayed on node B');
    carl.c.send({ cmd: 'send', to: { user: 'dana' }, type: 'text', body: 'live', cid: 'cd-live' });
    t.match(await danaB.c.next((m) => m.cmd === 'message' && m.channel === 'dm:carl:dana'), { body: 'live', offset: 5 }, 'and the next one arrives live, next in order');
    carl.c.close();
    danaB.c.close();
  });

  t.test('admin actions on one node reach users on the other', async (t) => {
    const api = (method: string, path: string, body?: object) => fetch(`${a.url}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    t.equal((await api('POST', '/rooms', { name: 'staff', membersOnly: true })).status, 201, 'room created on node A');
    t.equal((await api('POST', '/rooms/staff/members', { user: 'bob' })).status, 200);
    bob.c.send({ cmd: 'join', room: 'staff' });
    t.equal((await bob.c.next((m) => m.cmd === 'joined' || m.cmd === 'error')).cmd, 'joined', 'node B knows the room and the membership');
    alice.c.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'lag probe', cid: 'lag' });
    await bob.c.next((m) => m.cmd === 'message' && m.cid === 'lag');
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    const lag = Number(/^webim_bus_lag_seconds (\S+)$/m.exec(metrics)?.[1]);
    t.ok(lag > 0 && lag < 5, `node B measures the bus lag (${lag} s)`);
    t.equal((await api('DELETE', '/rooms/staff/members/bob')).status, 200);
    t.match(await bob.c.next((m) => m.cmd === 'left' && m.room === 'staff'), { reason: 'removed' }, 'a membership revoked on node A ends it on node B');
    bob.c.send({ cmd: 'join', room: 'doomed' });
    await bob.c.next((m) => m.cmd === 'joined' && m.room === 'doomed');
    for (let i = 0; i < 40 && (await api('DELETE', '/rooms/doomed')).status === 404; i++) await new Promise((r) => setTimeout(r, 50));
    t.match(await bob.c.next((m) => m.cmd === 'left' && m.room === 'doomed'), { reason: 'deleted' }, 'a room deleted on node A is left on node B');
    const kick = await api('POST', '/users/bob/kick');
    t.equal(kick.status, 200, 'a user online only on node B can be kicked from node A');
    t.match(await bob.c.next('bye'), { code: 'kicked', reconnect: false });
    await alice.c.next((m) => m.cmd === 'presence' && m.event === 'offline' && (m.user as { id: string }).id === 'bob');
    bob = await login(b.url, 'Bob', { token: bob.reply.token });
    await alice.c.next((m) => m.cmd === 'presence' && m.event === 'online' && (m.user as { id: string }).id === 'bob');
  });

  t.test('a user going offline on one node is reported on the other', async (t) => {
    bob.c.close();
    const off = await alice.c.next((m) => m.cmd === 'presence' && m.event === 'offline' && (m.user as { id: string }).id === 'bob');
    t.ok(off, 'offline seen on node A');
    alice.c.send({ cmd: 'online' });
    t.same(names((await alice.c.next('online')).users), ['Alice']);
  });
}
