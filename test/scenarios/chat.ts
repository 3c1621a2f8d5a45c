/**
 * The chat scenarios of the Foundation issue, written once against the
 * transport-neutral ChatClient, so that every transport runs the same ones:
 * `chatScenarios(t, makeServer)` with a factory that starts a server and
 * says how to connect to it.
 */
import type { Test } from 'tap';
import type { Config } from '../../src/config.js';
import type { ChatClient, Connect, Msg } from '../helpers/client.js';
import { identityScenarios } from './identity.js';

export interface ScenarioServer {
  connect: Connect;
  close(): Promise<void>;
}

/** Starts a server for one scenario, with these settings changed from the defaults. */
export type MakeServer = (overrides?: Partial<Config>) => Promise<ScenarioServer>;

export async function login(connect: Connect, name: string, extra: object = {}): Promise<{ c: ChatClient; me: Msg }> {
  const c = await connect();
  c.send({ cmd: 'login', name, ...extra });
  const me = await c.next((m) => m.cmd === 'login' || m.cmd === 'error');
  if (me.cmd !== 'login') throw new Error(`login of ${name} refused: ${JSON.stringify(me)}`);
  return { c, me };
}

function user(m: Msg): { id: string; name: string; status: string } {
  return m.user as { id: string; name: string; status: string };
}

let cids = 0;
export function cid(): string {
  return `c${++cids}-${Date.now().toString(36)}`;
}

export function sendText(c: ChatClient, to: object, body: string, id = cid()): string {
  c.send({ cmd: 'send', to, type: 'text', body, cid: id });
  return id;
}

const isMsg = (body: string) => (m: Msg) => m.cmd === 'message' && m.body === body;

export function chatScenarios(t: Test, makeServer: MakeServer): void {
  const withServer = (name: string, fn: (connect: Connect, t: Test) => Promise<void>) =>
    t.test(name, async (t) => {
      const s = await makeServer();
      t.teardown(() => s.close());
      await fn(s.connect, t);
    });

  withServer('two users chat in the lobby', async (connect, t) => {
    const { c: alice, me } = await login(connect, 'Alice');
    t.equal(user(me).id, 'alice');
    t.ok((me.joined as string[]).includes('lobby'), 'a new user is in the lobby');
    t.ok(typeof me.token === 'string' && (me.token as string).length > 20, 'login returns a token');
    t.equal(me.recovered, true);
    t.ok((me.rooms as Array<{ name: string }>).some((r) => r.name === 'lobby'), 'lobby always exists');
    const { c: bob } = await login(connect, 'Bob');
    const id = sendText(alice, { room: 'lobby' }, 'hello bob');
    const ack = await alice.next('ack');
    t.equal(ack.cid, id);
    t.equal(ack.channel, 'room:lobby');
    t.equal(ack.offset, 1);
    const got = await bob.next(isMsg('hello bob'));
    t.match(got, { channel: 'room:lobby', offset: 1, from: { id: 'alice', name: 'Alice' }, to: { room: 'lobby' }, type: 'text', cid: id, id: ack.id });
    t.type(got.ts, 'number');
    const echo = await alice.next(isMsg('hello bob'));
    t.equal(echo.id, ack.id, 'the sender gets its own message too');
    sendText(bob, { room: 'lobby' }, 'hi alice');
    const back = await alice.next(isMsg('hi alice'));
    t.equal(back.offset, 2, 'offsets grow by one');
  });

  withServer('a private message reaches every connection of both users and no other', async (connect, t) => {
    const { c: a1, me } = await login(connect, 'Ann');
    const { c: a2 } = await login(connect, 'Ann', { token: me.token });
    const { c: b1 } = await login(connect, 'Ben');
    const { c: carol } = await login(connect, 'Carol');
    const id = sendText(a1, { user: 'ben' }, 'secret');
    const ack = await a1.next('ack');
    t.equal(ack.channel, 'dm:ann:ben');
    for (const c of [a1, a2, b1]) {
      const m = await c.next(isMsg('secret'));
      t.equal(m.cid, id);
      t.same(m.to, { user: 'ben' });
    }
    t.ok(await carol.quiet(isMsg('secret'), 300), 'a third user sees nothing');
  });

  withServer('presence: online and offline go to every logged-in user', async (connect, t) => {
    const { c: alice } = await login(connect, 'Alice');
    const { c: bob, me } = await login(connect, 'Bob');
    t.same((me.online as Array<{ id: string }>).map((u) => u.id).sort(), ['alice', 'bob'], 'online includes oneself');
    const on = await alice.next((m) => m.cmd === 'presence' && m.event === 'online');
    t.equal(user(on).id, 'bob');
    const joinedLobby = await alice.next((m) => m.cmd === 'presence' && m.event === 'join');
    t.match(joinedLobby, { room: 'lobby', user: { id: 'bob' } }, 'a first login joins the lobby, and its members hear of it');
    bob.send({ cmd: 'status', status: 'away' });
    const st = await alice.next((m) => m.cmd === 'presence' && m.event === 'status');
    t.match(st.user, { id: 'bob', status: 'away' });
    bob.send({ cmd: 'logout' });
    await bob.closed;
    const off = await alice.next((m) => m.cmd === 'presence' && m.event === 'offline');
    t.equal(user(off).id, 'bob');
    alice.send({ cmd: 'online' });
    const list = await alice.next('online');
    t.same((list.users as Array<{ id: string }>).map((u) => u.id), ['alice']);
  });

  withServer('name_taken, and the token lets the same person in again', async (connect, t) => {
    const { me } = await login(connect, 'Alice');
    const other = await connect();
    other.send({ cmd: 'login', name: 'alice' });
    const err = await other.next('error');
    t.equal(err.code, 'name_taken');
    other.send({ cmd: 'login', name: 'ALICE', token: 'not-a-token' });
    t.equal((await other.next('error')).code, 'unauthorized');
    other.send({ cmd: 'login', name: 'Alice', token: me.token });
    const ok = await other.next('login');
    t.equal(user(ok).id, 'alice');
  });

  withServer('an offline private message is delivered at next login', async (connect, t) => {
    const { c: bob, me: first } = await login(connect, 'Bob');
    bob.send({ cmd: 'logout' });
    await bob.closed;
    const { c: alice } = await login(connect, 'Alice');
    sendText(alice, { user: 'bob' }, 'while you were out');
    sendText(alice, { user: 'bob' }, 'and this too');
    await alice.next('ack');
    await alice.next('ack');
    // His name is held for him: he comes back with the token his first login returned.
    const { c: bob2, me } = await login(connect, 'Bob', { token: first.token });
    t.equal(me.recovered, true);
    t.equal((await bob2.next('message')).body, 'while you were out');
    t.equal((await bob2.next('message')).body, 'and this too');
    bob2.close();
    await bob2.closed;
    // With the token: through a proxy the server may hear of the close a moment after the client.
    const { c: bob3 } = await login(connect, 'Bob', { token: me.token });
    t.ok(await bob3.quiet('message', 300), 'delivered messages are not replayed again');
  });

  withServer('resume after a dropped connection delivers exactly the missed messages, in order', async (connect, t) => {
    const { c: alice } = await login(connect, 'Alice');
    const { c: bob, me } = await login(connect, 'Bob');
    sendText(alice, { room: 'lobby' }, 'one');
    const seen = await bob.next(isMsg('one'));
    bob.close();
    await bob.closed;
    await alice.next((m) => m.cmd === 'presence' && m.event === 'offline');
    for (const body of ['two', 'three', 'four']) sendText(alice, { room: 'lobby' }, body);
    sendText(alice, { user: 'bob' }, 'dm while away');
    for (let i = 0; i < 4; i++) await alice.next('ack');
    const { c: back, me: again } = await login(connect, 'Bob', {
      token: me.token,
      resume: { cursors: { 'room:lobby': seen.offset } },
    });
    t.equal(again.recovered, true);
    const replay: string[] = [];
    for (let i = 0; i < 4; i++) replay.push((await back.next('message')).body as string);
    t.same(replay.filter((b) => b !== 'dm while away'), ['two', 'three', 'four']);
    t.ok(replay.includes('dm while away'));
    t.ok(await back.quiet('message', 300), 'nothing more, nothing twice');
    sendText(alice, { room: 'lobby' }, 'five');
    t.equal((await back.next('message')).offset, 5, 'live messages continue after the replay');
  });

  withServer('a repeated cid is stored once and acked with the same id and offset', async (connect, t) => {
    const { c: alice } = await login(connect, 'Alice');
    const { c: bob } = await login(connect, 'Bob');
    const id = sendText(alice, { room: 'lobby' }, 'once');
    const first = await alice.next('ack');
    sendText(alice, { room: 'lobby' }, 'once', id);
    const second = await alice.next('ack');
    t.same([second.id, second.offset], [first.id, first.offset]);
    await bob.next(isMsg('once'));
    t.ok(await bob.quiet(isMsg('once'), 300), 'the repeat is not delivered again');
    alice.send({ cmd: 'history', channel: 'room:lobby' });
    const h = await alice.next('history');
    t.equal((h.messages as Msg[]).length, 1);
  });

  withServer('rooms: join with history, presence, leave, forbidden and not_found', async (connect, t) => {
    const { c: alice } = await login(connect, 'Alice');
    const { c: bob } = await login(connect, 'Bob');
    alice.send({ cmd: 'join', room: 'dev' });
    const joined = await alice.next('joined');
    t.same(joined.history, []);
    sendText(alice, { room: 'dev' }, 'first in dev');
    await alice.next('ack');
    sendText(bob, { room: 'dev' }, 'let me in');
    t.equal((await bob.next('error')).code, 'forbidden');
    bob.send({ cmd: 'join', room: 'dev' });
    const bj = await bob.next('joined');
    t.same((bj.history as Msg[]).map((m) => m.body), ['first in dev']);
    t.same((bj.members as Array<{ id: string }>).map((u) => u.id).sort(), ['alice', 'bob']);
    const pj = await alice.next((m) => m.cmd === 'presence' && m.event === 'join' && m.room === 'dev');
    t.equal(pj.room, 'dev');
    sendText(bob, { room: 'nowhere' }, 'x');
    t.equal((await bob.next('error')).code, 'not_found');
    bob.send({ cmd: 'leave', room: 'dev' });
    t.equal((await bob.next('left')).room, 'dev');
    const pl = await alice.next((m) => m.cmd === 'presence' && m.event === 'leave');
    t.equal(user(pl).id, 'bob');
    sendText(alice, { room: 'dev' }, 'bob is gone');
    t.ok(await bob.quiet(isMsg('bob is gone'), 300), 'a member who left gets no more messages');
  });

  withServer('history pages backwards with before, limit and more', async (connect, t) => {
    const { c: alice } = await login(connect, 'Alice');
    for (let i = 1; i <= 12; i++) sendText(alice, { room: 'lobby' }, `m${i}`);
    for (let i = 1; i <= 12; i++) await alice.next('ack');
    alice.send({ cmd: 'history', channel: 'room:lobby', limit: 5 });
    const h1 = await alice.next('history');
    t.same((h1.messages as Msg[]).map((m) => m.offset), [8, 9, 10, 11, 12]);
    t.equal(h1.more, true);
    alice.send({ cmd: 'history', channel: 'room:lobby', before: 3, limit: 5 });
    const h2 = await alice.next('history');
    t.same((h2.messages as Msg[]).map((m) => m.offset), [1, 2]);
    t.equal(h2.more, false);
    alice.send({ cmd: 'history', channel: 'dm:bob:carol' });
    t.equal((await alice.next('error')).code, 'forbidden');
    alice.send({ cmd: 'history', channel: 'room:nope' });
    t.equal((await alice.next('error')).code, 'not_found');
  });

  withServer('typing reaches the others and is never stored; ping answers pong', async (connect, t) => {
    const { c: alice } = await login(connect, 'Alice');
    const { c: bob } = await login(connect, 'Bob');
    alice.send({ cmd: 'typing', to: { room: 'lobby' } });
    const ty = await bob.next('typing');
    t.match(ty, { from: { id: 'alice' }, to: { room: 'lobby' } });
    t.ok(await alice.quiet('typing', 200), 'the typist does not get its own typing');
    alice.send({ cmd: 'typing', to: { user: 'bob' } });
    await bob.next('typing');
    alice.send({ cmd: 'ping', ts: 42 });
    t.equal((await alice.next('pong')).ts, 42);
    alice.send({ cmd: 'history', channel: 'room:lobby' });
    t.same((await alice.next('history')).messages, []);
  });

  withServer('every bad input gets its error code and the connection keeps working', async (connect, t) => {
    const c = await connect();
    c.sendRaw('{not json');
    t.equal((await c.next('error')).code, 'bad_json');
    c.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'x', cid: 'a' });
    t.equal((await c.next('error')).code, 'not_logged_in');
    c.send({ cmd: 'ping' });
    await c.next('pong');
    c.send({ cmd: 'login', name: '   ' });
    t.equal((await c.next('error')).code, 'bad_request');
    c.send({ cmd: 'login', name: 'x'.repeat(33) });
    t.equal((await c.next('error')).code, 'bad_request');
    c.send({ cmd: 'login', name: 'ok\u0007' });
    t.equal((await c.next('error')).code, 'bad_request');
    c.send({ cmd: 'login', name: 'Eve', avatar: 'javascript:alert(1)' });
    t.equal((await c.next('error')).code, 'bad_request');
    c.send({ cmd: 'login', name: 'Eve' });
    await c.next('login');
    const cases: Array<[unknown, string]> = [
      [[1, 2], 'bad_request'],
      ['"a string"', 'bad_request'],
      [{ nocmd: true }, 'bad_request'],
      [{ cmd: 'fly' }, 'unknown_cmd'],
      [{ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'x' }, 'bad_request'],
      [{ cmd: 'send', to: { room: 'lobby' }, type: 'video', body: 'x', cid: 'v' }, 'bad_request'],
      [{ cmd: 'send', to: { planet: 'mars' }, type: 'text', body: 'x', cid: 'p' }, 'bad_request'],
      [{ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'x'.repeat(4097), cid: 'big' }, 'too_large'],
      [{ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'x', cid: 'y'.repeat(65) }, 'bad_request'],
      [{ cmd: 'send', to: { user: 'nobody-here' }, type: 'text', body: 'x', cid: 'nb' }, 'not_found'],
      [{ cmd: 'join', room: 'Bad Room!' }, 'bad_request'],
      [{ cmd: 'leave', room: 'never-made' }, 'not_found'],
      [{ cmd: 'history', channel: 'room:lobby', limit: 101 }, 'bad_request'],
      [{ cmd: 'history', channel: 'room:lobby', limit: 0 }, 'bad_request'],
      [{ cmd: 'history', channel: 'nonsense' }, 'bad_request'],
      [{ cmd: 'status', status: 'sleeping' }, 'bad_request'],
      [{ cmd: 'online', room: 'ghost-room' }, 'not_found'],
      [{ cmd: 'login', name: 'Again' }, 'bad_request'],
    ];
    for (const [input, code] of cases) {
      c.sendRaw(typeof input === 'string' ? input : JSON.stringify(input));
      const err = await c.next('error');
      t.equal(err.code, code, `${JSON.stringify(input).slice(0, 80)} -> ${code}`);
    }
    const big = await c.log.find((m) => m.cmd === 'error' && m.code === 'too_large');
    t.equal(big?.ref, 'big', 'the error names the cid it answers');
    sendText(c, { room: 'lobby' }, 'still here');
    t.equal((await c.next('ack')).offset, 1, 'the connection still works');
  });

  identityScenarios(t, makeServer);
}
