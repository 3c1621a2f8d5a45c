import t, { type Test } from 'tap';
import type { Transport, TransportHandler } from '../src/core/transport.js';
import { TokenService } from '../src/auth/tokens.js';
import { defaultConfig } from '../src/config.js';
import { Hub } from '../src/core/hub.js';
import { PARTIAL_LIST_SIZE, PresenceLimit } from '../src/core/presence-limit.js';
import { silentLog } from '../src/log.js';
import { MemoryStore } from '../src/store/memory.js';
import type { Frame } from '../src/types.js';

/** An in-memory transport that records what the core sends it. */
class Client implements Transport {
  readonly name = 'websocket' as const;
  readonly remoteAddress = '10.0.0.1';
  readonly frames: Frame[] = [];
  readonly handler: TransportHandler;

  constructor(hub: Hub) {
    this.handler = hub.attach(this, { ip: this.remoteAddress });
  }

  send(frame: string): void {
    this.frames.push(JSON.parse(frame) as Frame);
  }

  close(): void {}

  bufferedAmount(): number {
    return 0;
  }

  write(msg: object): void {
    this.handler.message(JSON.stringify(msg));
  }

  presence(event: string): Frame[] {
    return this.frames.filter((f) => f.cmd === 'presence' && f.event === event);
  }

  async reply(cmd: string): Promise<Frame> {
    const end = Date.now() + 2000;
    for (;;) {
      const f = this.frames.find((x) => x.cmd === cmd || x.cmd === 'error');
      if (f) return f;
      if (Date.now() > end) throw new Error(`no ${cmd}`);
      await new Promise((r) => setImmediate(r));
    }
  }

  async login(name: string, token?: string): Promise<Frame> {
    this.write(token === undefined ? { cmd: 'login', name } : { cmd: 'login', name, token });
    return this.reply('login');
  }
}

async function setup(tt: Test, presenceLimit: number): Promise<Hub> {
  const store = new MemoryStore();
  await store.init();
  const tokens = new TokenService({ secret: '', dataDir: '', persist: false, ttlSeconds: 3600 });
  const hub = new Hub({ config: defaultConfig({ store: 'memory', presenceLimit, maxConnectionsPerIp: 1000 }), store, tokens, log: silentLog });
  await hub.start();
  tt.teardown(async () => {
    hub.shutdown();
    await store.close();
  });
  return hub;
}

async function loginMany(hub: Hub, n: number, prefix = 'u'): Promise<Client[]> {
  const out: Client[] = [];
  for (let i = 0; i < n; i++) {
    const c = new Client(hub);
    const l = await c.login(`${prefix}${i}`);
    if (l.cmd !== 'login') throw new Error(`login ${i}: ${JSON.stringify(l)}`);
    out.push(c);
  }
  return out;
}

const ids = (users: unknown): string[] => (users as Frame[]).map((u) => u.id as string);

t.test('at the limit presence is exactly as docs/protocol.md says', async (tt) => {
  const hub = await setup(tt, 3);
  const [a, , c] = await loginMany(hub, 3);
  tt.same(ids(a?.presence('online').map((f) => f.user)), ['u1', 'u2'], 'everyone hears of each login');
  const l = c?.frames[0] as Frame;
  tt.same(ids(l.online), ['u0', 'u1', 'u2']);
  tt.notOk('onlinePartial' in l, 'no partial marker at or below the limit');
  tt.notOk('onlineTotal' in l);
  tt.same(ids(a?.presence('join').map((f) => f.user)), ['u1', 'u2'], 'first logins announce their lobby join');
});

t.test('above the limit logins are not broadcast and the login list is a marked sample', async (tt) => {
  const hub = await setup(tt, 3);
  const clients = await loginMany(hub, PARTIAL_LIST_SIZE + 5);
  const first = clients[0] as Client;
  tt.equal(first.presence('online').length, 2, 'only the logins up to the limit were announced');
  tt.equal(first.presence('join').length, 2, 'and only their lobby joins');
  const last = clients[clients.length - 1] as Client;
  const l = last.frames[0] as Frame;
  tt.equal((l.online as Frame[]).length, PARTIAL_LIST_SIZE, 'capped');
  tt.equal(ids(l.online)[0], `u${PARTIAL_LIST_SIZE + 4}`, 'the user who logs in comes first');
  tt.equal(l.onlineTotal, PARTIAL_LIST_SIZE + 5);
  tt.equal(l.onlinePartial, true);
  tt.equal((l.rooms as Frame[]).find((r) => r.name === 'lobby')?.members, PARTIAL_LIST_SIZE + 5, 'room counts stay exact');

  last.write({ cmd: 'online' });
  const online = await last.reply('online');
  tt.equal((online.users as Frame[]).length, PARTIAL_LIST_SIZE + 5, '`online` gives the whole list');
});

t.test('above the limit status, join and leave reach only the user\'s own connections', async (tt) => {
  const hub = await setup(tt, 3);
  const [a, b] = await loginMany(hub, 5);
  const token = (b?.frames[0] as Frame).token as string;
  const b2 = new Client(hub);
  await b2.login('u1', token);

  b?.write({ cmd: 'status', status: 'away' });
  await new Promise((r) => setImmediate(r));
  tt.equal(b2.presence('status').length, 1, 'the user\'s other connection hears it');
  tt.equal(a?.presence('status').length, 0, 'others do not');

  b?.write({ cmd: 'join', room: 'lobby' });
  const joined = await b?.reply('joined');
  tt.equal(joined?.membersTotal, 5);
  tt.equal(joined?.membersPartial, true);
  tt.equal(ids(joined?.members)[0], 'u1', 'the joiner comes first');

  b?.write({ cmd: 'leave', room: 'lobby' });
  await b?.reply('left');
  tt.equal(b2.presence('leave').length, 1, 'the leaver\'s other connection hears of the leave');
  tt.equal(a?.presence('leave').length, 0, 'the room does not');
  b?.write({ cmd: 'join', room: 'lobby' });
  await new Promise((r) => setTimeout(r, 20));
  tt.equal(b2.presence('join').filter((f) => f.room === 'lobby').length, 1, 'nor of the join back');
  tt.equal(a?.presence('join').filter((f) => (f.user as Frame).id === 'u1').length, 1, 'only the first-login join (below the limit) reached others');
});

t.test('a small room of a big server keeps full presence', async (tt) => {
  const hub = await setup(tt, 3);
  const [a, b] = await loginMany(hub, 5);
  a?.write({ cmd: 'join', room: 'small' });
  await a?.reply('joined');
  b?.write({ cmd: 'join', room: 'small' });
  await new Promise((r) => setTimeout(r, 20));
  tt.same(a?.presence('join').filter((f) => f.room === 'small').map((f) => (f.user as Frame).id), ['u1']);
});

t.test('limit 0 turns the limit off', async (tt) => {
  const limit = new PresenceLimit(0);
  tt.ok(limit.full(1_000_000));
  tt.equal(limit.list([], 1_000_000).total, undefined);
});
