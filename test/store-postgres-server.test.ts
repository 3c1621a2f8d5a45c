import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { StartupError, StoreUnavailableError } from '../src/errors.js';
import { PostgresStore } from '../src/store/postgres.js';
import { freePort } from './helpers/nginx.js';
import { createTestDatabase, databaseUrl } from './helpers/postgres.js';
import { BIN } from './helpers/process.js';
import { startServer } from './helpers/server.js';
import { tcpProxy } from './helpers/tcp-proxy.js';
import { wsConnect } from './helpers/ws-client.js';
import { chatScenarios } from './scenarios/chat.js';
import { msg } from './store-suite.js';

/** The start of `webim start` with a PostgreSQL nothing listens for: what it printed and its exit code. */
function startWithoutDatabase(database: string): Promise<{ code: number | null; stderr: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'webim-pg-'));
  const child = spawn(process.execPath, [BIN, 'start', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--database', database], {
    env: { ...process.env, WEBIM_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
      resolve({ code, stderr });
    });
  });
}

const url = await createTestDatabase(t);
if (url !== undefined) {
  t.test('postgres: an unreachable database stops the start with its URL, not its password', async (tt) => {
    const port = await freePort();
    const database = `postgres://webim:s3cret-pw@127.0.0.1:${port}/chat`;
    const store = new PostgresStore({ url: database, connectTimeout: 2000 });
    const err = await store.init().then(() => undefined, (e: unknown) => e);
    tt.ok(err instanceof StartupError, 'init fails with a StartupError');
    tt.match(String(err), `cannot connect to PostgreSQL at postgres://webim:***@127.0.0.1:${port}/chat`);
    tt.notMatch(String(err), 's3cret');

    const { code, stderr } = await startWithoutDatabase(database);
    tt.equal(code, 1, 'webim start exits with 1');
    tt.match(stderr, `webim: cannot connect to PostgreSQL at postgres://webim:***@127.0.0.1:${port}/chat`);
    tt.notMatch(stderr, 's3cret', 'the password is not printed');
  });

  t.test('postgres: the database going away and coming back', async (tt) => {
    const proxy = await tcpProxy(Number(new URL(url).port || 5432), new URL(url).hostname);
    tt.teardown(() => proxy.close());
    const viaProxy = new URL(url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const store = new PostgresStore({ url: viaProxy.toString(), connectTimeout: 1000, batchMax: 20 });
    await store.init();
    tt.teardown(() => store.close());
    for (let i = 1; i <= 3; i++) await store.append(msg('room:out', 'alice', `before${i}`));

    // Cut in the middle of a burst: some appends are acked, the rest fail; none may be half there.
    const burst = Array.from({ length: 300 }, (_, i) => store.append(msg('room:out', 'alice', `burst${i}`)));
    await burst[0];
    await proxy.down();
    const outcomes = await Promise.allSettled(burst);
    const acked = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.message] : []));
    const failed = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    tt.ok(acked.length >= 1, `${acked.length} of the burst acked before the cut`);
    tt.ok(failed.every((e) => e instanceof StoreUnavailableError), `the other ${failed.length} failed with StoreUnavailableError`);

    const down = await Promise.allSettled([store.append(msg('room:out', 'alice', 'during')), store.head('room:out')]);
    for (const o of down) {
      tt.equal(o.status, 'rejected', 'nothing works while the database is away');
      if (o.status === 'rejected') tt.equal((o.reason as { code?: string }).code, 'server_busy');
    }

    await proxy.up();
    const after = await store.append(msg('room:out', 'alice', 'after'));
    tt.equal(after.duplicate, false, 'the first append after the database is back succeeds');
    // Retries of the burst: acked ones are repeats, the rest are stored now (or were, when only the answer to COMMIT was lost).
    const retried = [];
    for (let i = 0; i < 300; i++) retried.push(await store.append(msg('room:out', 'alice', `burst${i}`)));
    for (const m of acked) {
      const again = retried.find((r) => r.message.cid === m.cid);
      tt.equal(again?.duplicate === true && again.message.offset, m.offset, `acked ${m.cid} is kept at offset ${m.offset}`);
    }
    const head = await store.head('room:out');
    tt.equal(head, 3 + 300 + 1, 'every message once');
    tt.same((await store.history('room:out', undefined, 1000)).messages.map((m) => m.offset),
      Array.from({ length: head }, (_, i) => i + 1), 'offsets 1..N with no gap');
  });

  t.test('postgres: a server started with --database serves and acks from PostgreSQL', async (tt) => {
    const s = await startServer({ database: url });
    tt.teardown(() => s.close());
    const health = (await (await fetch(`${s.url}/healthz`)).json()) as { store?: string };
    tt.equal(health.store, 'postgres');
    const c = await wsConnect(s.url)();
    tt.teardown(() => c.close());
    c.send({ cmd: 'login', name: 'Pia' });
    await c.next('login');
    c.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'stored in postgres', cid: 'pg1' });
    const ack = await c.next('ack');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    tt.teardown(() => client.end());
    const row = await client.query('SELECT seq::int AS seq, body FROM messages WHERE channel = $1 AND cid = $2', ['room:lobby', 'pg1']);
    tt.same(row.rows, [{ seq: ack.offset, body: 'stored in postgres' }], 'the ack names the committed row');
  });

  // The chat scenarios of every transport, over WebSocket, on an empty PostgreSQL database each.
  let scenario = 0;
  chatScenarios(t, async (overrides) => {
    const name = `${new URL(url).pathname.slice(1)}_s${++scenario}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const s = await startServer({ ...overrides, database: databaseUrl(name, url) });
    return {
      connect: wsConnect(s.url),
      close: async () => {
        await s.close();
        const drop = new pg.Client({ connectionString: url });
        await drop.connect();
        await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await drop.end();
      },
    };
  });
}
