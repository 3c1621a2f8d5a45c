import type { Test } from 'tap';
import type { HistoryStore } from '../src/store/store.js';
import type { NewMessage, StoredMessage } from '../src/types.js';

/**
 * What a store test file hands to storeSuite: a fresh, initialized store
 * on empty data; for durable stores, `reopen` builds a second instance on
 * the same data and initializes it (the suite closes the first one
 * before); `cleanup` removes the data once every instance is closed.
 */
export interface StoreFixture {
  store: HistoryStore;
  reopen?: () => Promise<HistoryStore>;
  cleanup: () => Promise<void>;
}

interface Opened {
  store: HistoryStore;
  /** Closes the current instance and returns a new one on the same data; undefined when the store is not durable. */
  reopen: (() => Promise<HistoryStore>) | undefined;
}

export function msg(channel: string, from: string, cid: string, body = `body of ${cid}`): NewMessage {
  const to = channel.startsWith('room:')
    ? { room: channel.slice(5) }
    : { user: channel.split(':').slice(1).find((u) => u !== from) ?? from };
  return { channel, from: { id: from, name: from.toUpperCase(), avatar: `av-${from}` }, to, type: 'text', body, cid };
}

const offsets = (list: StoredMessage[]): number[] => list.map((m) => m.offset);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The contract of HistoryStore (src/store/store.ts) that every implementation must pass. */
export function storeSuite(t: Test, name: string, makeStore: () => Promise<StoreFixture>): void {
  /** Opens a fixture for one subtest and closes whatever instance is current at its end. */
  async function open(tt: Test): Promise<Opened> {
    const fixture = await makeStore();
    let current = fixture.store;
    tt.teardown(async () => {
      await current.close();
      await fixture.cleanup();
    });
    const reopenFixture = fixture.reopen;
    const reopen = reopenFixture && (async () => {
      await current.close();
      current = await reopenFixture();
      return current;
    });
    return { store: current, reopen };
  }

  t.test(`${name}: offsets are 1..N per channel, independent, with every field kept`, async (tt) => {
    const { store } = await open(tt);
    tt.equal(await store.head('room:a'), 0);
    const before = Date.now();
    const results = [];
    for (let i = 0; i < 8; i++) {
      results.push(await store.append(msg(i % 3 === 0 ? 'room:b' : 'room:a', 'alice', `c${i}`)));
    }
    const inA = results.filter((r) => r.message.channel === 'room:a').map((r) => r.message);
    const inB = results.filter((r) => r.message.channel === 'room:b').map((r) => r.message);
    tt.same(offsets(inA), [1, 2, 3, 4, 5]);
    tt.same(offsets(inB), [1, 2, 3]);
    tt.ok(results.every((r) => !r.duplicate));
    tt.equal(new Set(results.map((r) => r.message.id)).size, 8, 'ids are unique');
    tt.equal(await store.head('room:a'), 5);
    tt.equal(await store.head('room:b'), 3);
    const first = results[0]!.message;
    tt.match(first, {
      channel: 'room:b', offset: 1, from: { id: 'alice', name: 'ALICE', avatar: 'av-alice' },
      to: { room: 'b' }, type: 'text', body: 'body of c0', cid: 'c0',
    });
    tt.type(first.id, 'string');
    tt.ok(first.id.length >= 8, 'id is not trivially short');
    tt.ok(first.ts >= before && first.ts <= Date.now(), 'ts is the server clock in ms');
    const page = await store.history('room:b', undefined, 10);
    tt.same(page.messages, inB, 'history returns the messages as append resolved them');
  });

  t.test(`${name}: 500 appends without awaiting resolve in call order`, async (tt) => {
    const { store } = await open(tt);
    const settled: number[] = [];
    const promises = range(0, 499).map((i) =>
      store.append(msg(i % 2 ? 'room:odd' : 'room:even', `u${i % 7}`, `p${i}`)).then((r) => {
        settled.push(i);
        return r;
      }),
    );
    const results = await Promise.all(promises);
    tt.same(settled, range(0, 499), 'promises resolve in call order');
    tt.same(results.filter((_, i) => i % 2 === 0).map((r) => r.message.offset), range(1, 250));
    tt.same(results.filter((_, i) => i % 2 === 1).map((r) => r.message.offset), range(1, 250));
    tt.equal(await store.head('room:even'), 250);
    tt.same(offsets((await store.history('room:odd', undefined, 100)).messages), range(151, 250));
  });

  t.test(`${name}: a repeated (sender, cid) is stored once`, async (tt) => {
    const { store, reopen } = await open(tt);
    const first = await store.append(msg('room:a', 'alice', 'same', 'first body'));
    const again = await store.append(msg('room:a', 'alice', 'same', 'changed body'));
    tt.equal(first.duplicate, false);
    tt.equal(again.duplicate, true);
    tt.equal(again.message.id, first.message.id);
    tt.equal(again.message.offset, 1);
    tt.equal(again.message.body, 'first body', 'the stored message wins');
    const elsewhere = await store.append(msg('room:b', 'alice', 'same'));
    tt.equal(elsewhere.duplicate, true, 'the cid is unique per sender, not per channel');
    tt.equal(elsewhere.message.id, first.message.id);
    const other = await store.append(msg('room:a', 'bob', 'same'));
    tt.equal(other.duplicate, false, 'another sender may use the same cid');
    tt.equal(other.message.offset, 2);

    // The repeat arrives while the first is still on its way to disk.
    const p1 = store.append(msg('room:a', 'carol', 'pending'));
    const p2 = store.append(msg('room:a', 'carol', 'pending'));
    const p3 = store.append(msg('room:a', 'carol', 'next'));
    const [r1, r2, r3] = await Promise.all([p1, p2, p3]);
    tt.equal(r1.duplicate, false);
    tt.equal(r2.duplicate, true);
    tt.equal(r2.message.id, r1.message.id);
    tt.equal(r2.message.offset, 3);
    tt.equal(r3.message.offset, 4, 'no gap after a repeat');
    tt.equal(await store.head('room:a'), 4);
    tt.equal(await store.head('room:b'), 0);

    if (reopen) {
      const reopened = await reopen();
      const later = await reopened.append(msg('room:a', 'alice', 'same'));
      tt.equal(later.duplicate, true, 'remembered across restarts');
      tt.equal(later.message.id, first.message.id);
      tt.equal(later.message.offset, 1);
      tt.equal((await reopened.append(msg('room:a', 'carol', 'after'))).message.offset, 5);
    }
  });

  t.test(`${name}: a caller changing its objects later does not change what is stored`, async (tt) => {
    const { store } = await open(tt);
    const input = msg('room:a', 'alice', 'm1', 'original');
    const { message } = await store.append(input);
    input.body = 'rewritten';
    input.from.name = 'Mallory';
    if ('room' in input.to) input.to.room = 'elsewhere';
    const [kept] = (await store.history('room:a', undefined, 1)).messages;
    tt.equal(kept?.body, 'original');
    tt.equal(kept?.from.name, 'ALICE');
    tt.same(kept?.to, { room: 'a' });
    tt.equal(message.body, 'original');
    const room = { name: 'lobby', title: 'Lobby', membersOnly: false, createdAt: 1 };
    await store.ensureRoom(room);
    room.title = 'Changed';
    tt.equal((await store.getRoom('lobby'))?.title, 'Lobby');
  });

  t.test(`${name}: history pages back from the newest, oldest first`, async (tt) => {
    const { store } = await open(tt);
    for (let i = 1; i <= 25; i++) await store.append(msg('room:h', 'alice', `h${i}`));
    const check = async (before: number | undefined, limit: number, expected: number[], more: boolean) => {
      const page = await store.history('room:h', before, limit);
      tt.same(offsets(page.messages), expected, `history before ${before} limit ${limit}`);
      tt.equal(page.more, more, `more before ${before} limit ${limit}`);
    };
    await check(undefined, 10, range(16, 25), true);
    await check(16, 10, range(6, 15), true);
    await check(6, 10, range(1, 5), false);
    await check(11, 10, range(1, 10), false);
    await check(undefined, 25, range(1, 25), false);
    await check(undefined, 100, range(1, 25), false);
    await check(1, 10, [], false);
    await check(100, 3, [23, 24, 25], true);
    const empty = await store.history('room:none', undefined, 10);
    tt.same(empty, { messages: [], more: false });
  });

  t.test(`${name}: since replays the newest after a cursor`, async (tt) => {
    const { store } = await open(tt);
    for (let i = 1; i <= 25; i++) await store.append(msg('dm:alice:bob', i % 2 ? 'alice' : 'bob', `s${i}`));
    const check = async (after: number, limit: number, expected: number[], complete: boolean) => {
      const page = await store.since('dm:alice:bob', after, limit);
      tt.same(offsets(page.messages), expected, `since ${after} limit ${limit}`);
      tt.equal(page.complete, complete, `complete since ${after} limit ${limit}`);
    };
    await check(20, 10, range(21, 25), true);
    await check(15, 10, range(16, 25), true);
    await check(14, 10, range(16, 25), false);
    await check(0, 10, range(16, 25), false);
    await check(0, 100, range(1, 25), true);
    await check(25, 10, [], true);
    tt.same(await store.since('dm:x:y', 0, 10), { messages: [], complete: true });
  });

  t.test(`${name}: rooms`, async (tt) => {
    const { store } = await open(tt);
    tt.same(await store.listRooms(), []);
    tt.equal(await store.getRoom('lobby'), undefined);
    const lobby = { name: 'lobby', title: 'Lobby', membersOnly: false, createdAt: 1000 };
    const secret = { name: 'secret', title: 'Secret', membersOnly: true, createdAt: 2000 };
    tt.same(await store.ensureRoom(lobby), lobby);
    tt.same(await store.ensureRoom({ ...lobby, title: 'Other', createdAt: 5 }), lobby, 'an existing room is kept');
    tt.same(await store.ensureRoom(secret), secret);
    tt.same(await store.getRoom('secret'), secret);
    const listed = await store.listRooms();
    tt.same([...listed].sort((a, b) => a.name.localeCompare(b.name)), [lobby, secret]);
    await store.addMember('secret', 'alice');
    tt.equal(await store.deleteRoom('secret'), true);
    tt.equal(await store.deleteRoom('secret'), false);
    tt.equal(await store.getRoom('secret'), undefined);
    tt.same(await store.listRooms(), [lobby]);
    tt.same(await store.roomsOf('alice'), [], 'memberships go with the room');
    tt.equal(await store.isMember('secret', 'alice'), false);
  });

  t.test(`${name}: memberships`, async (tt) => {
    const { store } = await open(tt);
    tt.same(await store.roomsOf('alice'), []);
    await store.addMember('lobby', 'alice');
    await store.addMember('lobby', 'alice');
    await store.addMember('dev', 'alice');
    await store.addMember('lobby', 'bob');
    tt.same([...(await store.roomsOf('alice'))].sort(), ['dev', 'lobby'], 'adding twice is harmless');
    tt.equal(await store.isMember('lobby', 'alice'), true);
    tt.equal(await store.isMember('dev', 'bob'), false);
    await store.removeMember('lobby', 'alice');
    await store.removeMember('lobby', 'alice');
    await store.removeMember('nowhere', 'nobody');
    tt.same(await store.roomsOf('alice'), ['dev']);
    tt.equal(await store.isMember('lobby', 'alice'), false);
    tt.equal(await store.isMember('lobby', 'bob'), true);
  });

  t.test(`${name}: saveUser tells whether the user is new`, async (tt) => {
    const { store } = await open(tt);
    tt.equal(await store.saveUser({ id: 'alice', name: 'Alice', avatar: 'a1' }, 'guest'), 'new');
    tt.equal(await store.saveUser({ id: 'alice', name: 'Alice B', avatar: 'a2' }, 'guest'), 'known');
    tt.same(await store.getUser('alice'), { id: 'alice', name: 'Alice B', avatar: 'a2' }, 'the last profile is kept');
    tt.equal(await store.saveUser({ id: 'bob', name: 'Bob', avatar: 'b1' }, 'token'), 'new');
    const [x, y] = await Promise.all([
      store.saveUser({ id: 'carol', name: 'Carol', avatar: 'c' }, 'guest'),
      store.saveUser({ id: 'carol', name: 'Carol', avatar: 'c' }, 'guest'),
    ]);
    tt.same([x, y], ['new', 'known'], 'concurrent saves: only the first is new');
  });

  t.test(`${name}: a token user's id is refused to guests for good`, async (tt) => {
    const { store, reopen } = await open(tt);
    tt.equal(await store.saveUser({ id: 'carol', name: 'Carol', avatar: 'c' }, 'guest'), 'new');
    tt.equal(await store.saveUser({ id: 'u1', name: 'Ursula', avatar: 'owl' }, 'token'), 'new');
    tt.equal(await store.saveUser({ id: 'u1', name: 'Mallory', avatar: 'cat' }, 'guest'), 'refused', 'a guest of a token user id');
    tt.same(await store.getUser('u1'), { id: 'u1', name: 'Ursula', avatar: 'owl' }, 'a refused guest wrote nothing');
    tt.equal(await store.saveUser({ id: 'u1', name: 'Ursula', avatar: 'owl' }, 'token'), 'known', 'the token user again');

    tt.equal(await store.saveUser({ id: 'g1', name: 'Gus', avatar: 'cat' }, 'guest'), 'new');
    tt.equal(await store.saveUser({ id: 'g1', name: 'Gus', avatar: 'cat' }, 'token'), 'first_token', 'a guest id at its first token login');
    tt.equal(await store.saveUser({ id: 'g1', name: 'Gus', avatar: 'cat' }, 'token'), 'known', 'first only once');
    tt.equal(await store.saveUser({ id: 'g1', name: 'Gus', avatar: 'cat' }, 'guest'), 'refused', 'no guest after it');

    // In one batch: the token save comes first, so the guest save behind it is refused.
    const [t1, g2] = await Promise.all([
      store.saveUser({ id: 'h1', name: 'Hana', avatar: 'fox' }, 'token'),
      store.saveUser({ id: 'h1', name: 'Mallory', avatar: 'cat' }, 'guest'),
    ]);
    tt.same([t1, g2], ['new', 'refused'], 'a guest racing the first token login loses');
    if (!reopen) return;
    const again = await reopen();
    tt.equal(await again.saveUser({ id: 'u1', name: 'Mallory', avatar: 'cat' }, 'guest'), 'refused', 'remembered across a restart');
    tt.equal(await again.saveUser({ id: 'g1', name: 'Mallory', avatar: 'cat' }, 'guest'), 'refused');
    tt.equal(await again.saveUser({ id: 'carol', name: 'Carol', avatar: 'c' }, 'guest'), 'known', 'guests stay guests');
  });

  t.test(`${name}: guest holds change only from what the caller saw`, async (tt) => {
    const { store, reopen } = await open(tt);
    tt.equal(await store.guestHold('carol'), undefined, 'a name never held');
    const first = { generation: 1, lastUsed: 1000 };
    // Two logins that both saw no hold: one wins.
    const raced = await Promise.all([store.swapGuestHold('carol', undefined, first), store.swapGuestHold('carol', undefined, { generation: 1, lastUsed: 1001 })]);
    tt.same(raced, [true, false], 'the first insert wins, the second finds a hold');
    tt.same(await store.guestHold('carol'), first);
    await store.touchGuestHold('carol', 1, 5000);
    await store.touchGuestHold('carol', 1, 4000);
    tt.same(await store.guestHold('carol'), { generation: 1, lastUsed: 5000 }, 'a touch never moves the time back');
    tt.equal(await store.swapGuestHold('carol', first, { generation: 2, lastUsed: 9000 }), false, 'a stale expectation changes nothing');
    const seen = { generation: 1, lastUsed: 5000 };
    const next = { generation: 2, lastUsed: 9000 };
    tt.same(await Promise.all([store.swapGuestHold('carol', seen, next), store.swapGuestHold('carol', seen, next)]), [true, false]);
    await store.touchGuestHold('carol', 1, 99999);
    tt.same(await store.guestHold('carol'), next, 'a touch of a retired generation changes nothing');
    tt.equal(await store.guestHold('dave'), undefined, 'other names are untouched');
    if (!reopen) return;
    const again = await reopen();
    tt.same(await again.guestHold('carol'), next, 'holds survive a restart');
  });

  t.test(`${name}: dmChannelsOf lists private channels with messages`, async (tt) => {
    const { store } = await open(tt);
    tt.same(await store.dmChannelsOf('alice'), []);
    await store.append(msg('dm:alice:bob', 'alice', 'd1'));
    await store.append(msg('dm:alice:bob', 'bob', 'd2'));
    await store.append(msg('dm:alice:alice', 'alice', 'd3'));
    await store.append(msg('dm:bob:carol', 'carol', 'd4'));
    await store.append(msg('room:lobby', 'alice', 'd5'));
    const sorted = async (user: string) => [...(await store.dmChannelsOf(user))].sort();
    tt.same(await sorted('alice'), ['dm:alice:alice', 'dm:alice:bob']);
    tt.same(await sorted('bob'), ['dm:alice:bob', 'dm:bob:carol']);
    tt.same(await sorted('carol'), ['dm:bob:carol']);
    tt.same(await sorted('dave'), []);
  });

  t.test(`${name}: delivered cursors only go up`, async (tt) => {
    const { store } = await open(tt);
    tt.same(await store.getDelivered('alice'), new Map());
    await store.setDelivered('alice', 'dm:alice:bob', 5);
    await store.setDelivered('alice', 'dm:alice:bob', 3);
    tt.same(await store.getDelivered('alice'), new Map([['dm:alice:bob', 5]]));
    await store.setDelivered('alice', 'dm:alice:bob', 7);
    await store.setDelivered('alice', 'dm:alice:carol', 2);
    await store.setDelivered('bob', 'dm:alice:bob', 1);
    tt.same(await store.getDelivered('alice'), new Map([['dm:alice:bob', 7], ['dm:alice:carol', 2]]));
    // Many calls without awaiting, as the delivery path makes them.
    const calls = [9, 8, 12, 10, 11].map((o) => store.setDelivered('bob', 'dm:alice:bob', o));
    tt.equal((await store.getDelivered('bob')).get('dm:alice:bob'), 12, 'raises are visible before they settle');
    await Promise.all(calls);
    tt.same(await store.getDelivered('bob'), new Map([['dm:alice:bob', 12]]));
  });

  t.test(`${name}: everything survives close and reopen`, async (tt) => {
    const { store, reopen } = await open(tt);
    if (!reopen) {
      tt.pass('not a durable store');
      return;
    }
    const sent = await Promise.all(range(1, 30).map((i) => store.append(msg(i % 2 ? 'room:lobby' : 'dm:alice:bob', 'alice', `r${i}`))));
    const lobby = { name: 'lobby', title: 'Lobby', membersOnly: true, createdAt: 42 };
    await store.ensureRoom(lobby);
    await store.addMember('lobby', 'alice');
    await store.saveUser({ id: 'alice', name: 'Alice', avatar: 'a' }, 'guest');
    await store.setDelivered('bob', 'dm:alice:bob', 11);

    const again = await reopen();
    tt.equal(await again.head('room:lobby'), 15);
    tt.equal(await again.head('dm:alice:bob'), 15);
    const history = await again.history('room:lobby', undefined, 100);
    tt.same(history.messages, sent.filter((_, i) => i % 2 === 0).map((r) => r.message), 'messages come back as acked');
    tt.same(await again.getRoom('lobby'), lobby);
    tt.equal(await again.isMember('lobby', 'alice'), true);
    tt.equal(await again.saveUser({ id: 'alice', name: 'Alice', avatar: 'a' }, 'guest'), 'known');
    tt.same(await again.dmChannelsOf('bob'), ['dm:alice:bob']);
    tt.same(await again.getDelivered('bob'), new Map([['dm:alice:bob', 11]]));
    const next = await again.append(msg('room:lobby', 'bob', 'r31'));
    tt.equal(next.message.offset, 16, 'offsets continue from N + 1');
    const dup = await again.append(msg('dm:alice:bob', 'alice', 'r2'));
    tt.equal(dup.duplicate, true);
    tt.equal(dup.message.offset, 1);
  });
}
