/**
 * Guest name holds (src/core/guest-holds.ts): the rules on a clock of the
 * test's own, and the hold outliving a restart of a real server on SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { guestGenerationId, guestId, parseGuestId } from '../src/auth/guest.js';
import { GuestHolds } from '../src/core/guest-holds.js';
import { ProtocolError } from '../src/errors.js';
import { MemoryStore } from '../src/store/memory.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

const HOLD = 60_000;

function setup(online: Set<string> = new Set()): { holds: GuestHolds; store: MemoryStore; clock: { now: number } } {
  const store = new MemoryStore();
  const clock = { now: 1_000_000 };
  return { holds: new GuestHolds(store, HOLD, (id) => online.has(id), () => clock.now), store, clock };
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(() => undefined, (err: unknown) => (err instanceof ProtocolError ? err.code : String(err)));
}

t.test('generation ids: a name can never type its way into another generation', async (t) => {
  t.equal(guestGenerationId('carol', 1), 'carol');
  t.equal(guestGenerationId('carol', 2), 'carol%g2');
  t.same(parseGuestId('carol%g2'), { base: 'carol', generation: 2 });
  t.same(parseGuestId('carol'), { base: 'carol', generation: 1 });
  t.same(parseGuestId('carol%g1'), { base: 'carol%g1', generation: 1 }, 'no generation 1 suffix');
  for (const name of ['carol%g2', 'Carol%G2', 'carol %g2', '%g3']) {
    const id = guestId(name);
    t.same(parseGuestId(id), { base: id, generation: 1 }, `"${name}" -> ${id} is a first generation of its own`);
  }
});

t.test('a name is held while online and for the hold after its last use, then retired', async (t) => {
  const online = new Set<string>();
  const { holds, clock } = setup(online);
  const first = await holds.take('Carol');
  t.equal(first.id, 'carol');
  t.equal(await code(holds.take('CAROL')), 'name_taken', 'taken at once');
  online.add('carol');
  clock.now += HOLD * 10;
  t.equal(await code(holds.take('carol')), 'name_taken', 'online keeps it in use past the hold');
  t.equal(await holds.proves('carol'), true, 'her token proves her while online');
  online.delete('carol');
  await holds.touch('carol');
  clock.now += HOLD - 1;
  t.equal(await code(holds.take('carol')), 'name_taken', 'held until the hold has passed since her last use');
  t.equal(await holds.proves('carol'), true, 'and her token still works; it marks the name used');
  clock.now += HOLD;
  t.equal(await holds.proves('carol'), false, 'past the hold her token no longer proves her');
  const second = await holds.take('Carol');
  t.equal(second.id, 'carol%g2', 'the next guest of the name is generation 2');
  t.equal(await holds.proves('carol'), false, 'the retired identity stays retired');
  t.equal(await holds.proves('carol%g2'), true);
  t.equal(await holds.proves('carol%g3'), false, 'a generation that never was proves nothing');
});

t.test('two logins of a free name at once: one takes it', async (t) => {
  const { holds } = setup();
  const results = await Promise.allSettled([holds.take('Dave'), holds.take('dave')]);
  t.same(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
});

t.test('a take the client never learnt of is given back', async (t) => {
  const { holds, clock, store } = setup();
  const first = await holds.take('Erin');
  await first.release();
  t.equal((await holds.take('Erin')).id, 'erin', 'a new name: the retry gets the plain id');
  clock.now += HOLD * 2;
  const retired = await holds.take('Erin');
  t.equal(retired.id, 'erin%g2');
  await store.touchGuestHold('erin', 2, clock.now + 5);
  await retired.release();
  t.equal(await holds.proves('erin%g2'), false, 'the given-back generation proves nothing');
  t.equal((await holds.take('Erin')).id, 'erin%g2', 'a retry gets the same generation, even after its end of use was marked');
});

t.test('the hold outlives a restart (SQLite)', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'webim-hold-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startServer({ store: 'sqlite', dataDir });
  const { c, me } = await login(wsConnect(first.url), 'Carol');
  c.close();
  await first.close();
  const second = await startServer({ store: 'sqlite', dataDir });
  t.teardown(() => second.close());
  const stranger = await wsConnect(second.url)();
  stranger.send({ cmd: 'login', name: 'carol' });
  t.match(await stranger.next((m) => m.cmd === 'login' || m.cmd === 'error'), { cmd: 'error', code: 'name_taken' }, 'held after the restart');
  stranger.close();
  const { c: back, me: again } = await login(wsConnect(second.url), 'Carol', { token: me.token });
  t.match(again.user, { id: 'carol', name: 'Carol' }, 'her token brings her back');
  back.close();
});
