import t, { type Test } from 'tap';
import type { Transport, TransportHandler } from '../src/core/transport.js';
import { TokenService } from '../src/auth/tokens.js';
import { defaultConfig, type Config } from '../src/config.js';
import { Hub } from '../src/core/hub.js';
import { silentLog } from '../src/log.js';
import { MemoryStore } from '../src/store/memory.js';
import type { Frame } from '../src/types.js';

type Gated = 'dmChannelsOf' | 'addMember';

/** A MemoryStore whose next call of a method can be held until the test lets it go. */
class GatedStore extends MemoryStore {
  private readonly gates = new Map<Gated, { reached: () => void; wait: Promise<void> }>();

  /** Holds the next call of `method`: `reached` resolves when it arrives, `open()` lets it continue. */
  hold(method: Gated): { reached: Promise<void>; open: () => void } {
    let open = (): void => undefined;
    let reached = (): void => undefined;
    const wait = new Promise<void>((resolve) => { open = resolve; });
    const arrived = new Promise<void>((resolve) => { reached = resolve; });
    this.gates.set(method, { reached, wait });
    return { reached: arrived, open };
  }

  private async pass(method: Gated): Promise<void> {
    const gate = this.gates.get(method);
    if (!gate) return;
    this.gates.delete(method);
    gate.reached();
    await gate.wait;
  }

  override async dmChannelsOf(userId: string): Promise<string[]> {
    await this.pass('dmChannelsOf');
    return super.dmChannelsOf(userId);
  }

  override async addMember(room: string, userId: string): Promise<void> {
    await this.pass('addMember');
    return super.addMember(room, userId);
  }
}

/** An in-memory transport that records what the core sends it. */
class Client implements Transport {
  readonly name = 'websocket' as const;
  readonly frames: Frame[] = [];
  closedWith: { code: number; reason: string } | undefined;
  buffered = 0;
  readonly handler: TransportHandler;

  constructor(hub: Hub, readonly remoteAddress = '10.0.0.1') {
    this.handler = hub.attach(this, { ip: remoteAddress });
  }

  send(frame: string): void {
    this.frames.push(JSON.parse(frame) as Frame);
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  write(msg: object | string): void {
    this.handler.message(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  of(cmd: string): Frame[] {
    return this.frames.filter((f) => f.cmd === cmd);
  }

  async waitFor(pred: (f: Frame) => boolean, what: string): Promise<Frame> {
    await until(() => this.frames.some(pred), what);
    return this.frames.find(pred) as Frame;
  }

  async login(name: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    this.write({ cmd: 'login', name, ...extra });
    return this.waitFor((f) => f.cmd === 'login' || (f.cmd === 'error' && f.ref === 'login'), `login of ${name}`);
  }
}

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function setup(tt: Test, overrides: Partial<Config> = {}): Promise<{ hub: Hub; store: GatedStore }> {
  const store = new GatedStore();
  await store.init();
  const tokens = new TokenService({ secret: '', dataDir: '', persist: false, ttlSeconds: 3600 });
  const hub = new Hub({ config: defaultConfig({ store: 'memory', ...overrides }), store, tokens, log: silentLog });
  await hub.start();
  tt.teardown(async () => {
    hub.shutdown();
    await store.close();
  });
  return { hub, store };
}

const user = (f: Frame | undefined): Record<string, unknown> => (f?.user ?? {}) as Record<string, unknown>;

t.test('before login only login, ping and logout are served', async (tt) => {
  const { hub } = await setup(tt);
  const c = new Client(hub);
  c.write({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'x', cid: 'c1' });
  c.write({ cmd: 'join', room: 'lobby' });
  c.write({ cmd: 'nonsense' });
  c.write('not json');
  c.write({ cmd: 'ping', ts: 42 });
  tt.same(c.frames.map((f) => [f.cmd, f.code, f.ref]), [
    ['error', 'not_logged_in', 'c1'],
    ['error', 'not_logged_in', 'join'],
    ['error', 'not_logged_in', 'nonsense'],
    ['error', 'bad_json', undefined],
    ['pong', undefined, undefined],
  ]);
  tt.equal(c.frames[4]?.ts, 42, 'ping ts echoed');
  tt.equal(c.closedWith, undefined, 'the connection stays open');
});

t.test('login answers with the protocol fields; malformed frames keep the connection', async (tt) => {
  const { hub } = await setup(tt, { heartbeatInterval: 12345 });
  const c = new Client(hub);
  const l = await c.login('  Alice ');
  tt.equal(l.cmd, 'login');
  tt.same(user(l), { id: 'alice', name: 'Alice', avatar: user(l).avatar, status: 'online' });
  tt.equal(typeof user(l).avatar, 'string');
  tt.equal(typeof l.token, 'string');
  tt.same((l.online as Frame[]).map((u) => u.id), ['alice'], 'online includes the user who logs in');
  tt.ok((l.rooms as Frame[]).some((r) => r.name === 'lobby' && r.members === 1), 'lobby exists with its member');
  tt.same(l.joined, ['lobby']);
  tt.equal(l.heartbeat, 12345);
  tt.equal(l.recovered, true);
  c.frames.length = 0;
  c.write('[1,2]');
  c.write('{"cmd":5}');
  c.write('"login"');
  c.write({ cmd: 'what' });
  c.write({ cmd: 'join', room: 'Bad Room' });
  c.write({ cmd: 'login', name: 'again' });
  await until(() => c.frames.length >= 6, 'six answers');
  tt.same(c.frames.map((f) => f.code), ['bad_request', 'bad_request', 'bad_request', 'unknown_cmd', 'bad_request', 'bad_request']);
  tt.equal(c.closedWith, undefined);
});

t.test('pipelined sends get offsets in the order sent', async (tt) => {
  const { hub } = await setup(tt);
  const c = new Client(hub);
  await c.login('alice');
  for (let i = 1; i <= 20; i++) c.write({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: `m${i}`, cid: `c${i}` });
  await until(() => c.of('ack').length === 20 && c.of('message').length === 20, 'acks and messages');
  tt.same(c.of('ack').map((a) => [a.cid, a.offset]), Array.from({ length: 20 }, (_, i) => [`c${i + 1}`, i + 1]));
  tt.same(c.of('message').map((m) => m.body), Array.from({ length: 20 }, (_, i) => `m${i + 1}`), 'delivered in offset order');
  c.write({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'again', cid: 'c3' });
  await until(() => c.of('ack').length === 21, 'ack of the retry');
  const retry = c.of('ack')[20];
  tt.same([retry?.offset, retry?.id], [3, c.of('ack')[2]?.id], 'a repeated cid is acked with the first id and offset');
  await new Promise((resolve) => setImmediate(resolve));
  tt.equal(c.of('message').length, 20, 'and not delivered twice');
});

t.test('a command after an asynchronous one waits for it', async (tt) => {
  const { hub, store } = await setup(tt);
  const c = new Client(hub);
  await c.login('alice');
  const gate = store.hold('addMember');
  const seen = c.frames.length;
  c.write({ cmd: 'join', room: 'dev' });
  c.write({ cmd: 'send', to: { room: 'dev' }, type: 'text', body: 'first in dev', cid: 'd1' });
  c.write({ cmd: 'ping', ts: 1 });
  await gate.reached;
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  tt.same(c.frames.slice(seen), [], 'nothing answered while join is stuck, not even the ping');
  gate.open();
  await until(() => c.of('ack').length === 1 && c.of('pong').length === 1, 'ack in dev and pong');
  const cmds = c.frames.slice(seen).map((f) => f.cmd);
  tt.equal(cmds[0], 'joined', 'joined first');
  tt.equal(c.of('error').length, 0, 'the send after join is not refused as forbidden');
  tt.equal(c.of('ack')[0]?.channel, 'room:dev');
  // A DM to a known offline user is checked against the store first; the next send still waits for it.
  const b = new Client(hub);
  await b.login('bob');
  b.handler.closed();
  c.frames.length = 0;
  c.write({ cmd: 'send', to: { user: 'bob' }, type: 'text', body: 'hi bob', cid: 'dm1' });
  c.write({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'hi all', cid: 'l1' });
  c.write({ cmd: 'send', to: { user: 'nobody' }, type: 'text', body: '?', cid: 'x1' });
  await until(() => c.of('ack').length === 2 && c.of('error').length === 1, 'acks');
  tt.same(c.frames.filter((f) => f.cmd === 'ack' || f.cmd === 'error').map((f) => f.cid ?? f.ref), ['dm1', 'l1', 'x1']);
  tt.equal(c.of('error')[0]?.code, 'not_found', 'a DM to a user never seen');
  tt.equal(c.of('ack')[0]?.channel, 'dm:alice:bob');
});

t.test('frames arriving during login are held and released after `login`', async (tt) => {
  const { hub, store } = await setup(tt);
  const a = new Client(hub);
  await a.login('alice');
  a.write({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'one', cid: 'a1' });
  await until(() => a.of('ack').length === 1, 'first ack');

  // Bob resumes lobby from 0: what is sent while his login reads the store comes once, in order.
  let gate = store.hold('dmChannelsOf');
  const b = new Client(hub);
  b.write({ cmd: 'login', name: 'bob', resume: { cursors: { 'room:lobby': 0 } } });
  await gate.reached;
  a.write({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'two', cid: 'a2' });
  await until(() => a.of('ack').length === 2, 'second ack');
  tt.same(b.frames, [], 'nothing reaches bob before his login answer');
  gate.open();
  await b.waitFor((f) => f.cmd === 'login', 'bob login');
  await until(() => b.of('message').length >= 2, 'replay');
  await new Promise((resolve) => setImmediate(resolve));
  tt.equal(b.frames[0]?.cmd, 'login', 'login first');
  tt.same(b.of('message').map((m) => [m.body, m.offset]), [['one', 1], ['two', 2]], 'each message exactly once, in order');
  tt.ok(a.frames.some((f) => f.cmd === 'presence' && f.event === 'online' && user(f).id === 'bob'), 'alice saw bob come online');

  // Carol sends no cursor: the live message held during her login follows the answer.
  gate = store.hold('dmChannelsOf');
  const c = new Client(hub);
  c.write({ cmd: 'login', name: 'carol' });
  await gate.reached;
  a.write({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'three', cid: 'a3' });
  await until(() => a.of('ack').length === 3, 'third ack');
  a.write({ cmd: 'status', status: 'away' });
  tt.same(c.frames, []);
  gate.open();
  await until(() => c.frames.length >= 3, 'carol frames');
  tt.same(c.frames.map((f) => f.cmd === 'presence' ? `presence:${String(f.event)}` : f.cmd), ['login', 'message', 'presence:status']);
  tt.equal(c.frames[1]?.body, 'three');
});

t.test('name_taken, token logins and going offline with the last connection', async (tt) => {
  const { hub } = await setup(tt);
  const a1 = new Client(hub);
  const l1 = await a1.login('Alice');
  const b = new Client(hub);
  await b.login('bob');
  const dup = new Client(hub);
  const refused = await dup.login('ALICE');
  tt.same([refused.cmd, refused.code, refused.ref], ['error', 'name_taken', 'login']);
  tt.equal(dup.closedWith, undefined, 'a refused login keeps the connection');
  const bad = new Client(hub);
  tt.equal((await bad.login('alice', { token: 'forged.token.here' })).code, 'unauthorized');
  const a2 = new Client(hub);
  const l2 = await a2.login('alice', { token: l1.token });
  tt.equal(l2.cmd, 'login', 'the token of the first login lets a second tab in');
  tt.equal(user(l2).id, 'alice');
  tt.equal(b.frames.filter((f) => f.cmd === 'presence' && f.event === 'online' && user(f).id === 'alice').length, 0,
    'no second online presence (alice was online before bob)');
  b.frames.length = 0;
  const before = hub.connectionCount;
  a1.handler.closed();
  tt.equal(hub.connectionCount, before - 1);
  tt.equal(b.of('presence').length, 0, 'alice still has a connection');
  tt.ok(hub.dir.users.has('alice'));
  a2.handler.closed();
  tt.same(b.of('presence').map((f) => [f.event, user(f).id]), [['offline', 'alice']]);
  tt.notOk(hub.dir.users.has('alice'));
  const stranger = new Client(hub);
  tt.equal((await stranger.login('alice')).code, 'name_taken', 'offline, her name is still held for her');
  const again = new Client(hub);
  tt.equal((await again.login('alice', { token: l1.token })).cmd, 'login', 'and her token lets her in');
});

t.test('per-IP connection cap', async (tt) => {
  const { hub } = await setup(tt, { maxConnectionsPerIp: 2 });
  const a = new Client(hub, '192.0.2.1');
  new Client(hub, '192.0.2.1');
  tt.equal(hub.admits('192.0.2.1'), false);
  const third = new Client(hub, '192.0.2.1');
  tt.same(third.frames.map((f) => [f.cmd, f.code, f.reconnect]), [['bye', 'too_many_connections', false]]);
  tt.equal(third.closedWith?.code, 1008);
  tt.equal(hub.connectionCount, 2);
  const other = new Client(hub, '192.0.2.2');
  tt.equal(other.closedWith, undefined, 'another address is not affected');
  a.handler.closed();
  tt.equal(hub.admits('192.0.2.1'), true, 'a closed connection frees its slot');
  const fourth = new Client(hub, '192.0.2.1');
  tt.equal(fourth.closedWith, undefined);
  third.handler.closed();
  tt.equal(hub.admits('192.0.2.1'), false, 'closing a refused connection frees nothing');
});

t.test('a flooded backlog ends the connection', async (tt) => {
  const { hub, store } = await setup(tt);
  const c = new Client(hub);
  const gate = store.hold('dmChannelsOf');
  c.write({ cmd: 'login', name: 'flood' });
  await gate.reached;
  for (let i = 0; i < 1000; i++) c.write({ cmd: 'ping' });
  tt.equal(c.closedWith, undefined, '1000 queued messages are tolerated');
  c.write({ cmd: 'ping' });
  tt.same(c.frames.map((f) => [f.cmd, f.code, f.reconnect]), [['bye', 'rate_limited', false]]);
  tt.equal(c.closedWith?.code, 1008);
  gate.open();
  await new Promise((resolve) => setTimeout(resolve, 50));
  tt.equal(c.frames.length, 1, 'nothing after the bye, not even the login answer');
  tt.notOk(hub.dir.users.has('flood'), 'the user went offline');
});

t.test('rate limit: errors, then bye; pings are not counted', async (tt) => {
  const { hub } = await setup(tt, { rateLimit: 1, rateBurst: 3 });
  const pinger = new Client(hub);
  for (let i = 0; i < 50; i++) pinger.write({ cmd: 'ping', ts: i });
  tt.equal(pinger.of('pong').length, 50);
  const c = new Client(hub);
  for (let i = 0; i < 7; i++) c.write('junk');
  tt.same(c.frames.map((f) => f.code), ['bad_json', 'bad_json', 'bad_json', 'rate_limited', 'rate_limited', 'rate_limited', 'rate_limited']);
  tt.same([c.frames[6]?.cmd, c.frames[6]?.reconnect], ['bye', false]);
  tt.equal(c.closedWith?.code, 1008);
  // A refused send names its cid, so that the client knows which message to send again.
  const sender = new Client(hub);
  await sender.login('sender');
  for (let i = 0; i < 4; i++) sender.write({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: `m${i}`, cid: `c${i}` });
  tt.match(sender.frames.find((f) => f.cmd === 'error'), { code: 'rate_limited', ref: 'c2' }, 'the refused send (the login took the first of 3) is named by its cid');
});

t.test('bye: close codes for logout, slow consumers and shutdown', async (tt) => {
  const { hub } = await setup(tt, { sendBufferLimit: 1024 });
  const out = new Client(hub);
  out.write({ cmd: 'logout' });
  tt.same(out.frames.map((f) => [f.cmd, f.code, f.reconnect]), [['bye', 'logout', false]]);
  tt.equal(out.closedWith?.code, 1000);
  const slow = new Client(hub);
  await slow.login('slow');
  slow.buffered = 4096;
  slow.write({ cmd: 'ping' });
  tt.same(slow.frames.slice(-1).map((f) => [f.cmd, f.code, f.reconnect]), [['bye', 'slow_consumer', true]]);
  tt.equal(slow.closedWith?.code, 1013);
  const a = new Client(hub);
  await a.login('alice');
  const b = new Client(hub);
  hub.shutdown();
  for (const c of [a, b]) {
    tt.same(c.frames.slice(-1).map((f) => [f.cmd, f.code, f.reconnect]), [['bye', 'shutdown', true]]);
    tt.equal(c.closedWith?.code, 1001);
  }
  tt.equal(hub.connectionCount, 0);
  const late = new Client(hub);
  tt.same([late.frames[0]?.code, late.closedWith?.code], ['shutdown', 1001], 'no new connections after shutdown');
});
