import pg from 'pg';
import t from 'tap';
import type { Test } from 'tap';
import { parseConfig } from '../src/config.js';
import { ProtocolError, StartupError } from '../src/errors.js';
import { openStore } from '../src/store/open.js';
import { PostgresStore, type PostgresStoreOptions } from '../src/store/postgres.js';
import { SCHEMA_VERSION } from '../src/store/postgres-schema.js';
import type { AppendResult } from '../src/store/store.js';
import { createTestDatabase } from './helpers/postgres.js';
import { msg, storeSuite } from './store-suite.js';

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function sql(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** Empties the database: the next store to start creates the tables again. */
async function reset(url: string): Promise<void> {
  await sql(url, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public');
}

const url = await createTestDatabase(t);
if (url !== undefined) {
  const open = async (tt: Test, opts: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> => {
    const store = new PostgresStore({ url, ...opts });
    await store.init();
    tt.teardown(() => store.close());
    return store;
  };

  storeSuite(t, 'postgres', async () => {
    await reset(url);
    const make = async (): Promise<PostgresStore> => {
      const store = new PostgresStore({ url });
      await store.init();
      return store;
    };
    return { store: await make(), reopen: make, cleanup: async () => undefined };
  });

  t.test('postgres: two nodes appending to one room at once get 1..1000, no gap, no repeat', async (tt) => {
    await reset(url);
    // Small batches, so that the two nodes' transactions take turns on the channel many times.
    const a = await open(tt, { batchMax: 10 });
    const b = await open(tt, { batchMax: 13 });
    const fromA: Promise<AppendResult>[] = [];
    const fromB: Promise<AppendResult>[] = [];
    for (let i = 0; i < 500; i++) {
      fromA.push(a.append(msg('room:shared', 'alice', `a${i}`)));
      fromB.push(b.append(msg('room:shared', 'bob', `b${i}`)));
    }
    const offsetsA = (await Promise.all(fromA)).map((r) => r.message.offset);
    const offsetsB = (await Promise.all(fromB)).map((r) => r.message.offset);
    tt.same([...offsetsA, ...offsetsB].sort((x, y) => x - y), range(1, 1000), 'every offset once');
    tt.ok(offsetsA.every((o, i) => i === 0 || o > (offsetsA[i - 1] as number)), 'node A: offsets follow its call order');
    tt.ok(offsetsB.every((o, i) => i === 0 || o > (offsetsB[i - 1] as number)), 'node B: offsets follow its call order');
    tt.comment(`node A's offsets span ${Math.min(...offsetsA)}..${Math.max(...offsetsA)}`);
    tt.equal(await a.head('room:shared'), 1000);
    tt.equal(await b.head('room:shared'), 1000);
    const all = await b.history('room:shared', undefined, 2000);
    tt.same(all.messages.map((m) => m.offset), range(1, 1000), 'history has 1..1000 in order');
    const rows = await sql(url, 'SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM messages');
    tt.same(rows.rows[0], { n: 1000, ids: 1000 }, 'no row twice');
  });

  t.test('postgres: an acked message is committed: another node reads it at once', async (tt) => {
    await reset(url);
    const a = await open(tt);
    const b = await open(tt);
    const seen = await Promise.all(range(1, 50).map((i) =>
      a.append(msg('room:ack', 'alice', `k${i}`)).then(async ({ message }) => {
        const page = await b.history('room:ack', message.offset + 1, 1);
        return page.messages[0]?.id === message.id;
      })));
    tt.equal(seen.filter(Boolean).length, 50, 'node B found each message as soon as node A acked it');
  });

  t.test('postgres: the same (sender, cid) from two nodes at once is stored once', async (tt) => {
    await reset(url);
    const a = await open(tt, { batchMax: 5 });
    const b = await open(tt, { batchMax: 7 });
    const pairs: Array<[Promise<AppendResult>, Promise<AppendResult>]> = [];
    for (let k = 0; k < 100; k++) {
      // Half of the repeats go to another channel: the cid is unique per sender, not per channel.
      pairs.push([a.append(msg('room:x', 'carol', `same${k}`)), b.append(msg(k % 2 ? 'room:y' : 'room:x', 'carol', `same${k}`))]);
    }
    let stored = 0;
    for (const [k, [pa, pb]] of pairs.entries()) {
      const [ra, rb] = await Promise.all([pa, pb]);
      if (ra.message.id !== rb.message.id || ra.duplicate === rb.duplicate) {
        tt.fail(`cid same${k}: A ${ra.message.id} dup ${ra.duplicate}, B ${rb.message.id} dup ${rb.duplicate}`);
      } else stored++;
      const original = ra.duplicate ? rb : ra;
      const repeat = ra.duplicate ? ra : rb;
      if (repeat.message.offset !== original.message.offset || repeat.message.channel !== original.message.channel) {
        tt.fail(`cid same${k}: the repeat's ack differs from the original's`);
      }
    }
    tt.equal(stored, 100, 'each cid: one original and one repeat carrying its message');
    const x = await a.head('room:x');
    const y = await a.head('room:y');
    tt.equal(x + y, 100, 'one row per cid');
    tt.same((await a.history('room:x', undefined, 200)).messages.map((m) => m.offset), range(1, x), 'room:x has no gap');
    tt.same((await a.history('room:y', undefined, 200)).messages.map((m) => m.offset), range(1, y), 'room:y has no gap');
  });

  t.test('postgres: cursors, users and rooms across two nodes', async (tt) => {
    await reset(url);
    const a = await open(tt);
    const b = await open(tt);
    await a.setDelivered('alice', 'dm:alice:bob', 10);
    await b.setDelivered('alice', 'dm:alice:bob', 5);
    tt.same(await b.getDelivered('alice'), new Map([['dm:alice:bob', 10]]), 'another node cannot lower a cursor');
    const saved = await Promise.all(range(1, 10).map((i) => (i % 2 ? a : b).saveUser({ id: 'dave', name: `Dave ${i}`, avatar: 'd' }, 'guest')));
    tt.equal(saved.filter((s) => s === 'new').length, 1, 'one node saw dave as new');
    tt.equal(saved.filter((s) => s === 'known').length, 9, 'the others updated the profile');
    // A token login on one node and guests of the same id on both at once: once the token save is in, every guest is refused.
    const race = await Promise.all([
      ...range(1, 5).map((i) => (i % 2 ? a : b).saveUser({ id: 'erin', name: `Guest ${i}`, avatar: 'g' }, 'guest')),
      a.saveUser({ id: 'erin', name: 'Erin', avatar: 'e' }, 'token'),
      ...range(6, 10).map((i) => (i % 2 ? a : b).saveUser({ id: 'erin', name: `Guest ${i}`, avatar: 'g' }, 'guest')),
    ]);
    const tokenSave = race[5];
    tt.ok(tokenSave === 'new' || tokenSave === 'first_token', `the token save is the first of its id (${String(tokenSave)})`);
    tt.equal(await b.saveUser({ id: 'erin', name: 'Mallory', avatar: 'm' }, 'guest'), 'refused', 'the other node refuses a guest after it');
    tt.same(await b.getUser('erin'), { id: 'erin', name: 'Erin', avatar: 'e' }, 'no guest wrote after the token save');
    const rooms = await Promise.all([a, b].map((s) => s.ensureRoom({ name: 'dev', title: 'Dev', membersOnly: false, createdAt: 7 })));
    tt.same(rooms[0], rooms[1], 'both nodes got the same room');
    await a.addMember('dev', 'dave');
    tt.equal(await b.isMember('dev', 'dave'), true);
  });

  t.test('postgres: a message the database refuses fails alone, the others keep consecutive offsets', async (tt) => {
    await reset(url);
    const store = await open(tt);
    await store.append(msg('room:a', 'alice', 'first'));
    const outcomes = await Promise.allSettled([
      store.append(msg('room:a', 'alice', 'ok1')),
      store.append(msg('room:a', 'alice', 'nul', 'a\u0000b')),
      store.append(msg('room:a', 'alice', 'ok2')),
      store.addMember('lobby', 'alice'),
    ]);
    const [ok1, bad, ok2, member] = outcomes;
    tt.equal(ok1?.status === 'fulfilled' && ok1.value.message.offset, 2);
    tt.equal(ok2?.status === 'fulfilled' && ok2.value.message.offset, 3);
    tt.equal(member?.status, 'fulfilled');
    const reason: unknown = bad?.status === 'rejected' ? bad.reason : undefined;
    tt.ok(reason instanceof ProtocolError, 'a NUL character is refused as a bad request, not server_busy');
    if (reason instanceof ProtocolError) tt.equal(reason.code, 'bad_request');
    tt.equal(await store.head('room:a'), 3);
    await tt.rejects(store.history('dm:a\u0000:b', undefined, 5), ProtocolError, 'reads with NUL are bad requests too');
  });

  t.test('postgres: migration at once from several nodes, again, and from a newer webim', async (tt) => {
    const fresh = await createTestDatabase(tt);
    if (fresh === undefined) return;
    const stores = range(1, 4).map(() => new PostgresStore({ url: fresh }));
    const started = await Promise.allSettled(stores.map((s) => s.init()));
    tt.same(started.map((s) => s.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'], 'four nodes start at once');
    await stores[0]?.append(msg('room:m', 'alice', 'm1'));
    await Promise.all(stores.map((s) => s.close()));
    const again = new PostgresStore({ url: fresh });
    await again.init();
    tt.equal(await again.head('room:m'), 1, 'a second start keeps the data');
    await again.close();
    const versions = await sql(fresh, 'SELECT version FROM schema_version');
    tt.same(versions.rows, [{ version: SCHEMA_VERSION }], 'one version row');

    await sql(fresh, 'UPDATE schema_version SET version = $1', [SCHEMA_VERSION + 1]);
    const newer = new PostgresStore({ url: fresh });
    const err = await newer.init().then(() => undefined, (e: unknown) => e);
    tt.ok(err instanceof StartupError, 'a newer schema stops the start');
    tt.match(String(err), /newer than this webim/);
  });

  t.test('postgres: a database of schema version 1 is migrated; its users are guests until they log in with a token', async (tt) => {
    await reset(url);
    const first = new PostgresStore({ url });
    await first.init();
    await first.close();
    // Back to the users table of version 1, with a user in it.
    await sql(url, 'ALTER TABLE users DROP COLUMN token_user');
    await sql(url, 'DROP TABLE guest_holds');
    await sql(url, "INSERT INTO users (id, name, avatar) VALUES ('u1', 'Ursula', 'owl')");
    await sql(url, 'UPDATE schema_version SET version = 1');
    const store = await open(tt);
    tt.same((await sql(url, 'SELECT version FROM schema_version')).rows, [{ version: SCHEMA_VERSION }]);
    tt.same(await store.getUser('u1'), { id: 'u1', name: 'Ursula', avatar: 'owl' }, 'users are kept');
    tt.same(await store.guestHold('u1'), { generation: 1, lastUsed: 0 }, 'a guest of the old schema is held as long unused');
    tt.equal(await store.saveUser({ id: 'u1', name: 'Ursula', avatar: 'owl' }, 'guest'), 'known', 'not a token user yet');
    tt.equal(await store.saveUser({ id: 'u1', name: 'Ursula', avatar: 'owl' }, 'token'), 'first_token');
    tt.equal(await store.saveUser({ id: 'u1', name: 'Mallory', avatar: 'cat' }, 'guest'), 'refused');
  });

  t.test('postgres: restart keeps offsets; --database and WEBIM_DATABASE pick PostgreSQL whatever --store says', async (tt) => {
    await reset(url);
    tt.equal(parseConfig(['--database', url], {}).database, url);
    tt.equal(parseConfig([], { WEBIM_DATABASE: url }).database, url, 'WEBIM_DATABASE');
    tt.equal(parseConfig([], {}).database, '', 'no database by default');
    const first = openStore('sqlite', { dataDir: '/nonexistent', database: url });
    tt.equal(first.kind, 'postgres', '--database wins over --store');
    await first.init();
    for (let i = 1; i <= 10; i++) await first.append(msg(i % 2 ? 'room:r' : 'dm:alice:bob', 'alice', `r${i}`));
    await first.close();
    const second = await open(tt);
    tt.equal(await second.head('room:r'), 5);
    tt.equal((await second.append(msg('room:r', 'bob', 'r11'))).message.offset, 6);
    tt.equal((await second.append(msg('dm:alice:bob', 'alice', 'r2'))).duplicate, true, 'an old cid is still a repeat');
    tt.same(await second.dmChannelsOf('bob'), ['dm:alice:bob']);
  });
}
