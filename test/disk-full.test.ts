/**
 * A full disk and a read-only data directory (issue 7, faults), on the
 * SQLite store: while writes fail,
 * sends get `error` `server_busy` with their cid as `ref` and never an ack,
 * reads (history, login and its replay of offline messages) keep working,
 * and once writing works again the same server takes the retried sends
 * with no gap in the offsets.
 *
 * How the disk is made full: SQLite's `PRAGMA max_page_count` on the
 * server's own connection, set to the file's current size. SQLite then
 * refuses to grow the database with SQLITE_FULL, the very error a full
 * disk raises, from the same place (the pager, inside the group commit's
 * transaction), so the store's real error path runs: rollback, heads
 * reloaded, StoreUnavailableError, `server_busy`. Raising the limit again
 * is the space coming back. A real small filesystem (tmpfs or a loop
 * mount) needs root, and making files read-only does not stop a file
 * descriptor that is already open; this needs neither. The pragma is per
 * connection, so the test reaches the store's private handle.
 *
 * How the directory is made read-only: `PRAGMA query_only` on that
 * connection, which fails every write, even one that rewrites a page in
 * place, with SQLITE_READONLY, as a file system remounted read-only does.
 */
import type Database from 'better-sqlite3';
import t from 'tap';
import { StoreUnavailableError } from '../src/errors.js';
import type { Msg } from './helpers/client.js';
import { serverDb, startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

const BIG = 'b'.repeat(4000);

interface Fault {
  name: string;
  /** The SQLite error code the store's failure must carry. */
  code: string;
  /** Writes that need new pages (full disk) or any write at all (read-only). */
  start(db: Database.Database): void;
  end(db: Database.Database): void;
}

const FAULTS: Fault[] = [
  {
    name: 'a full disk',
    code: 'SQLITE_FULL',
    start: (db) => db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`),
    end: (db) => db.pragma('max_page_count = 1073741823'),
  },
  {
    name: 'a read-only data directory',
    code: 'SQLITE_READONLY',
    start: (db) => db.pragma('query_only = ON'),
    end: (db) => db.pragma('query_only = OFF'),
  },
];

for (const fault of FAULTS) t.test(`${fault.name}: server_busy for sends, reads keep working, recovery when writes work again`, async (t) => {
  const s = await startServer({ store: 'sqlite', rateLimit: 1000, rateBurst: 1000 });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const { c: alice } = await login(connect, 'Alice');
  const { c: bob, me: bobFirst } = await login(connect, 'Bob');
  const sendAcked = async (c: typeof alice, to: object, body: string, cid: string) => {
    c.send({ cmd: 'send', to, type: 'text', body, cid });
    return c.next((m) => (m.cmd === 'ack' || m.cmd === 'error') && (m.cid === cid || m.ref === cid));
  };
  for (let i = 1; i <= 3; i++) t.equal((await sendAcked(alice, { room: 'lobby' }, `before ${i}`, `a${i}`)).cmd, 'ack', `message ${i} acked before the fault`);
  bob.close();
  await bob.closed;
  // A private message while Bob is away: his next login must replay it, full disk or not.
  t.equal((await sendAcked(alice, { user: 'bob' }, 'for later', 'dm1')).cmd, 'ack', 'the private message is acked');

  const db = serverDb(s.server.store);
  fault.start(db);

  const busy: Msg[] = [];
  for (let i = 4; i <= 13; i++) busy.push(await sendAcked(alice, { room: 'lobby' }, `${BIG} ${i}`, `a${i}`));
  t.ok(busy.every((m) => m.cmd === 'error' && m.code === 'server_busy'), 'each send meanwhile gets server_busy');
  t.same(busy.map((m) => m.ref), Array.from({ length: 10 }, (_, i) => `a${i + 4}`), 'with its cid as ref');
  t.notOk(alice.log.some((m) => m.cmd === 'ack' && Number(String(m.cid).slice(1)) >= 4), 'and no ack');
  const err = await s.server.store
    .append({ channel: 'room:lobby', from: { id: 'alice', name: 'Alice', avatar: 'a' }, to: { room: 'lobby' }, type: 'text', body: BIG, cid: 'direct' })
    .then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof StoreUnavailableError, 'the store raises StoreUnavailableError');
  t.equal(((err as Error).cause as { code?: string } | undefined)?.code, fault.code, `caused by ${fault.code}`);

  alice.send({ cmd: 'history', channel: 'room:lobby', limit: 50 });
  const page = await alice.next('history');
  t.same((page.messages as Msg[]).map((m) => m.body), ['before 1', 'before 2', 'before 3'], 'history still reads');
  const { c: bobAgain, me } = await login(connect, 'Bob', { token: bobFirst.token });
  t.equal(me.cmd, 'login', 'a returning user still logs in');
  t.equal((await bobAgain.next('message')).body, 'for later', 'and gets the offline message replayed');
  t.equal((await s.server.store.history('room:lobby', undefined, 50)).messages.length, 3, 'nothing of the failed sends was stored');

  fault.end(db);
  const retried: Msg[] = [];
  for (let i = 4; i <= 13; i++) retried.push(await sendAcked(alice, { room: 'lobby' }, `${BIG} ${i}`, `a${i}`));
  t.ok(retried.every((m) => m.cmd === 'ack'), 'once writes work, the retried sends are acked without a restart');
  t.same(retried.map((m) => m.offset), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13], 'continuing the offsets with no gap');
  const stored = (await s.server.store.history('room:lobby', undefined, 50)).messages;
  t.same(stored.map((m) => m.cid), Array.from({ length: 13 }, (_, i) => `a${i + 1}`), 'each message stored once, in order');
});
