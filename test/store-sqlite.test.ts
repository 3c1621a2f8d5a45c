import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import type { Test } from 'tap';
import { StoreUnavailableError } from '../src/errors.js';
import { openStore } from '../src/store/open.js';
import { SCHEMA_VERSION } from '../src/store/sqlite-schema.js';
import { SqliteStore, type SqliteStoreOptions } from '../src/store/sqlite.js';
import type { HistoryStore } from '../src/store/store.js';
import { msg, storeSuite } from './store-suite.js';

function tempDir(tt: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'webim-store-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function openSqlite(tt: Test, dir: string, opts: Partial<SqliteStoreOptions> = {}): Promise<SqliteStore> {
  const store = new SqliteStore({ dir, ...opts });
  await store.init();
  tt.teardown(() => store.close());
  return store;
}

storeSuite(t, 'sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'webim-store-'));
  const make = async (): Promise<HistoryStore> => {
    const store = new SqliteStore({ dir });
    await store.init();
    return store;
  };
  return { store: await make(), reopen: make, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

t.test('sqlite: a failed transaction rejects its batch and leaves no gap', async (tt) => {
  const dir = tempDir(tt);
  const store = await openSqlite(tt, dir);
  for (let i = 1; i <= 3; i++) await store.append(msg('room:a', 'alice', `ok${i}`));

  // A second connection makes every insert fail inside the store's own
  // transaction, the way a full disk or an I/O error would.
  const saboteur = new Database(join(dir, 'webim.sqlite'));
  tt.teardown(() => saboteur.close());
  saboteur.exec(`CREATE TRIGGER fail_inserts BEFORE INSERT ON messages
    BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END`);

  const doomed = [
    store.append(msg('room:a', 'alice', 'lost1')),
    store.append(msg('room:b', 'bob', 'lost2')),
    store.append(msg('room:a', 'alice', 'lost1')),
    store.addMember('lobby', 'alice'),
    store.setDelivered('alice', 'dm:alice:bob', 9),
  ];
  const outcomes = await Promise.allSettled(doomed);
  for (const [i, outcome] of outcomes.entries()) {
    tt.equal(outcome.status, 'rejected', `write ${i} of the failed batch is rejected`);
    if (outcome.status !== 'rejected') continue;
    const err: unknown = outcome.reason;
    tt.ok(err instanceof StoreUnavailableError, `write ${i}: StoreUnavailableError`);
    if (err instanceof StoreUnavailableError) {
      tt.equal(err.code, 'server_busy');
      tt.match(String(err.cause), /simulated write failure/);
    }
  }
  // Reads keep working while writes fail.
  tt.same((await store.history('room:a', undefined, 10)).messages.map((m) => m.offset), [1, 2, 3]);
  tt.equal(await store.head('room:b'), 0);
  tt.equal(await store.isMember('lobby', 'alice'), false);
  tt.same(await store.getDelivered('alice'), new Map());
  await tt.rejects(store.append(msg('room:a', 'alice', 'lost3')), StoreUnavailableError, 'still failing');

  saboteur.exec('DROP TRIGGER fail_inserts');
  const retried = await store.append(msg('room:a', 'alice', 'lost1'));
  tt.equal(retried.duplicate, false, 'a failed message was never stored, so its retry is new');
  tt.equal(retried.message.offset, 4, 'offsets continue with no gap');
  tt.equal((await store.append(msg('room:b', 'bob', 'lost2'))).message.offset, 1);
  tt.same((await store.history('room:a', undefined, 10)).messages.map((m) => m.offset), [1, 2, 3, 4]);
  tt.equal((await store.append(msg('room:a', 'alice', 'lost1'))).duplicate, true);
});

t.test('sqlite: close writes what is pending; a closed store refuses writes', async (tt) => {
  const dir = tempDir(tt);
  const store = new SqliteStore({ dir });
  await store.init();
  const pending = Array.from({ length: 20 }, (_, i) => store.append(msg('room:a', 'alice', `c${i}`)));
  const member = store.addMember('lobby', 'alice');
  await store.close();
  tt.equal((await Promise.all(pending)).at(-1)?.message.offset, 20);
  await member;
  await tt.rejects(store.append(msg('room:a', 'alice', 'late')), StoreUnavailableError);
  await tt.rejects(store.history('room:a', undefined, 10), StoreUnavailableError);
  await store.close();

  const again = await openSqlite(tt, dir);
  tt.equal(await again.head('room:a'), 20);
  tt.equal(await again.isMember('lobby', 'alice'), true);
});

t.test('sqlite: small batches keep order', async (tt) => {
  const store = await openSqlite(tt, tempDir(tt), { batchMax: 7 });
  const settled: number[] = [];
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) => store.append(msg('room:a', `u${i % 3}`, `b${i}`)).then((r) => {
      settled.push(i);
      return r.message.offset;
    })),
  );
  tt.same(results, Array.from({ length: 100 }, (_, i) => i + 1));
  tt.same(settled, Array.from({ length: 100 }, (_, i) => i));
});

t.test('sqlite: openStore, schema version and getUser', async (tt) => {
  const dir = tempDir(tt);
  const store = openStore('sqlite', { dataDir: join(dir, 'nested', 'data') });
  tt.equal(store.kind, 'sqlite');
  await store.init();
  tt.teardown(() => store.close());
  if (!(store instanceof SqliteStore)) throw new Error('openStore did not build a SqliteStore');
  await store.saveUser({ id: 'alice', name: 'Alice', avatar: 'a1' }, 'guest');
  tt.same(await store.getUser('alice'), { id: 'alice', name: 'Alice', avatar: 'a1' });
  tt.equal(await store.getUser('bob'), undefined);
  const db = new Database(join(dir, 'nested', 'data', 'webim.sqlite'), { readonly: true });
  tt.teardown(() => db.close());
  tt.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  tt.equal(db.pragma('journal_mode', { simple: true }), 'wal');
});

t.test('sqlite: a file of schema version 1 is migrated; its users are guests until they log in with a token', async (tt) => {
  const dir = tempDir(tt);
  // The users table as version 1 had it (the other tables did not change and are created on open).
  const old = new Database(join(dir, 'webim.sqlite'));
  old.exec(`CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, avatar TEXT NOT NULL);
    INSERT INTO users (id, name, avatar) VALUES ('u1', 'Ursula', 'owl'), ('g1', 'Gus', 'cat')`);
  old.pragma('user_version = 1');
  old.close();

  const store = await openSqlite(tt, dir);
  tt.same(await store.getUser('u1'), { id: 'u1', name: 'Ursula', avatar: 'owl' }, 'users are kept');
  // Guests from before holds existed are retired: the next guest of the name is someone new (docs/choices.md).
  tt.same(await store.guestHold('g1'), { generation: 1, lastUsed: 0 }, 'a guest of the old file is held as long unused');
  tt.equal(await store.saveUser({ id: 'g1', name: 'Gus', avatar: 'cat' }, 'guest'), 'known', 'a guest logs in as before');
  tt.equal(await store.saveUser({ id: 'u1', name: 'Ursula', avatar: 'owl' }, 'token'), 'first_token', 'a token login marks the id');
  tt.equal(await store.saveUser({ id: 'u1', name: 'Mallory', avatar: 'cat' }, 'guest'), 'refused', 'then guests are refused');
  await store.close();
  const db = new Database(join(dir, 'webim.sqlite'), { readonly: true });
  tt.teardown(() => db.close());
  tt.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'the file is at the current version');
  tt.same(db.prepare('SELECT id, token_user FROM users ORDER BY id').all(), [{ id: 'g1', token_user: 0 }, { id: 'u1', token_user: 1 }]);
});

t.test('sqlite: a file of a newer webim is refused and left alone', async (tt) => {
  const dir = tempDir(tt);
  const newer = new Database(join(dir, 'webim.sqlite'));
  newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  newer.close();
  const store = new SqliteStore({ dir });
  await tt.rejects(store.init(), { message: /newer than this webim/ });
  const db = new Database(join(dir, 'webim.sqlite'), { readonly: true });
  tt.teardown(() => db.close());
  tt.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION + 1);
  tt.same(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all(), [], 'no table was created');
});

t.test('sqlite: every acked message survives kill -9', async (tt) => {
  const dir = tempDir(tt);
  const moduleUrl = new URL('../src/store/sqlite.js', import.meta.url).href;
  const child = `
    const { SqliteStore } = await import(${JSON.stringify(moduleUrl)});
    const store = new SqliteStore({ dir: process.env.WEBIM_TEST_DIR });
    await store.init();
    for (let i = 0; ; i += 50) {
      const acks = [];
      for (let k = 0; k < 50; k++) {
        const to = { room: 'kill' };
        const from = { id: 'u' + k, name: 'u', avatar: 'a' };
        acks.push(store.append({ channel: 'room:kill', from, to, type: 'text', body: 'x', cid: 'c' + (i + k) })
          .then((r) => process.stdout.write(r.message.offset + '\\n')));
      }
      await Promise.all(acks);
    }`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', child], {
    env: { ...process.env, WEBIM_TEST_DIR: dir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let acked = 0;
  let buffered = '';
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) acked = Math.max(acked, Number(line));
    if (acked >= 3000) proc.kill('SIGKILL');
  });
  tt.equal(await exited, 'SIGKILL', 'the writer was killed, not stopped');
  tt.ok(acked >= 3000, `saw ${acked} acks before the kill`);

  const store = await openSqlite(tt, dir);
  const head = await store.head('room:kill');
  tt.ok(head >= acked, `head ${head} covers the last ack ${acked}`);
  const all = await store.history('room:kill', undefined, head);
  tt.same(all.messages.map((m) => m.offset), Array.from({ length: head }, (_, i) => i + 1), 'offsets 1..N, no gap');
  tt.equal((await store.append(msg('room:kill', 'z', 'after'))).message.offset, head + 1);
});
