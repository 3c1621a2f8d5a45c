/**
 * A store that cannot write, seen from the page (docs/storage.md, "When the disk is
 * full or read-only"): a message typed meanwhile gets `server_busy`, and
 * the page's client keeps it and sends it again with the same cid, waiting
 * longer each time, until it is stored. The person sees a notice that
 * says so, and once the store writes again every message shows up once,
 * in order, on both pages, with nobody typing it again.
 *
 * The store is made read-only with `PRAGMA query_only` on the server's own
 * SQLite connection, as test/disk-full.test.ts does: the real error path
 * of the group commit runs.
 */
import t from 'tap';
import type { NewMessage } from '../src/types.js';
import { enterChat, inOffsetOrder, launchBrowser, noPageErrors, say, until, waitForBodies } from './helpers/browser.js';
import { serverDb, startServer } from './helpers/server.js';

const browser = await launchBrowser(t);

if (browser) {
  t.test('a message refused with server_busy is sent again by the page once the store writes', async (t) => {
    const s = await startServer({ store: 'sqlite' });
    t.teardown(() => s.close());
    const store = s.server.store;
    // Every append the hub asks of the store, by cid: how often the page tried each message.
    const tries = new Map<string, number[]>();
    const append = store.append.bind(store);
    store.append = (msg: NewMessage) => {
      tries.set(msg.cid, [...(tries.get(msg.cid) ?? []), Date.now()]);
      return append(msg);
    };

    const rita = await enterChat(t, browser, s.url, 'Rita');
    const sam = await enterChat(t, browser, s.url, 'Sam');
    await say(rita.page, 'before');
    await waitForBodies(sam.page, ['before']);

    const db = serverDb(store);
    db.pragma('query_only = ON');
    const busyAt = Date.now();
    await say(rita.page, 'busy 1');
    await say(rita.page, 'busy 2');
    const notice = rita.page.locator('#notice');
    const text = await until(() => notice.textContent(), (v) => (v ?? '').includes('server_busy'), 'the busy notice');
    t.match(text, /kept and sent again/, 'the notice says the message is kept and sent again');
    t.equal(await rita.page.getByTestId('composer').inputValue(), '', 'the composer was emptied: the client holds the message');

    // Long enough for one or two retries (after about 1 s, then 2 s more), each refused again.
    await until(async () => [...tries.values()].filter((at) => at.length >= 2).length, (n) => n >= 2, 'a second try of both messages');
    t.same((await store.history('room:lobby', undefined, 10)).messages.map((m) => m.body), ['before'], 'nothing was stored while the store was read-only');
    db.pragma('query_only = OFF');
    const endedAt = Date.now();

    const expected = ['before', 'busy 1', 'busy 2'];
    for (const p of [rita, sam]) {
      const shown = await waitForBodies(p.page, expected, 20000);
      t.same(shown.map((m) => m.body), expected, `${p.name} sees each message once, in the order typed`);
      t.ok(inOffsetOrder(shown), 'in offset order');
    }
    const stored = (await store.history('room:lobby', undefined, 10)).messages;
    t.same(stored.map((m) => m.body), expected, 'stored once each');
    t.equal(new Set(stored.map((m) => m.cid)).size, 3, 'under three cids: every retry reused its message\'s cid');

    const retried = [...tries.entries()].filter(([cid]) => stored.some((m) => m.cid === cid && m.body !== 'before'));
    t.equal(retried.length, 2, 'the two refused messages are the ones tried again');
    for (const [cid, at] of retried) {
      const gaps = at.slice(1).map((x, i) => x - (at[i] as number));
      // The first wait is 1 s with +-25% jitter; a page that resent at once would show gaps of milliseconds.
      t.ok(gaps.every((g) => g >= 700), `${cid}: tried ${at.length} times, ${JSON.stringify(gaps)} ms apart, not at once`);
      t.ok((at.at(-1) as number) >= endedAt, `${cid}: its last try came after the store wrote again`);
      t.ok((at.at(-1) as number) - busyAt < 15000, `${cid}: stored within the backoff's first steps`);
    }
    noPageErrors(t, [rita, sam]);
  });
}
