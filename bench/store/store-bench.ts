/**
 * Append throughput of SqliteStore (or, with --database, PostgresStore) as
 * the chat core sees it: many senders, each waiting for its ack (the
 * promise, which settles after commit) before it sends again. Prints a
 * markdown table.
 *
 *   npm run bench:store -- --count 200000 --inflight 2000 --channels 50
 *   npm run bench:store -- --database postgres://postgres@127.0.0.1:5432/test
 *
 * With --database it works in a scratch database `webim_bench_<pid>` that it
 * creates on that server (the user needs CREATEDB) and drops at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { HistoryStore } from '../../src/store/store.js';
import type { NewMessage } from '../../src/types.js';
import { runMain } from '../harness/lifetime.js';

interface Run {
  /** What the row is called: the SQLite synchronous setting, or PostgreSQL. */
  label: string;
  count: number;
  seconds: number;
  perSecond: number;
}

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '200000' },
    inflight: { type: 'string', default: '2000' },
    channels: { type: 'string', default: '50' },
    'batch-max': { type: 'string', default: '1000' },
    database: { type: 'string' },
  },
});

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not ${text}`);
  return n;
}

const count = positive('count', values.count);
const inflight = positive('inflight', values.inflight);
const channels = positive('channels', values.channels);
const batchMax = positive('batch-max', values['batch-max']);
// A typical chat line: long enough that row size is not unrealistically small.
const body = 'The quick brown fox jumps over the lazy dog, and then it types a few more words. '.repeat(2);

/** A store to measure on empty data, and how to remove that data afterwards. */
interface Target {
  label: string;
  store: HistoryStore;
  cleanup(): Promise<void>;
}

function sqliteTarget(fsync: boolean): Target {
  const dir = mkdtempSync(join(tmpdir(), 'webim-bench-'));
  return {
    label: fsync ? 'SQLite, fsync on (FULL)' : 'SQLite, fsync off (NORMAL)',
    store: new SqliteStore({ dir, fsync, batchMax }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function onServer(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function postgresTarget(url: string): Promise<Target> {
  const name = `webim_bench_${process.pid}`;
  await onServer(url, `CREATE DATABASE ${name}`);
  const scratch = new URL(url);
  scratch.pathname = `/${name}`;
  return {
    label: 'PostgreSQL',
    store: new PostgresStore({ url: scratch.toString(), batchMax }),
    cleanup: () => onServer(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function run(target: Target): Promise<Run> {
  const { store } = target;
  try {
    await store.init();
    let next = 0;
    let acked = 0;
    // Each sender is one connection: it sends, waits for the ack, sends again.
    const sender = async (s: number): Promise<void> => {
      const from = { id: `user${s}`, name: `User ${s}`, avatar: 'cat' };
      while (next < count) {
        const i = next++;
        const room = `r${i % channels}`;
        const msg: NewMessage = { channel: `room:${room}`, from, to: { room }, type: 'text', body, cid: `c${i}` };
        await store.append(msg);
        acked++;
      }
    };
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: Math.min(inflight, count) }, (_, s) => sender(s)));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (acked !== count) throw new Error(`acked ${acked} of ${count}`);
    let stored = 0;
    for (let c = 0; c < channels; c++) stored += await store.head(`room:r${c}`);
    if (stored !== count) throw new Error(`stored ${stored} of ${count}`);
    return { label: target.label, count, seconds, perSecond: count / seconds };
  } finally {
    await store.close();
    await target.cleanup();
  }
}

async function main(): Promise<void> {
  const runs: Run[] = [];
  const database = values.database;
  const targets = database ? [() => postgresTarget(database)] : [false, true].map((fsync) => async () => sqliteTarget(fsync));
  for (const make of targets) {
    const target = await make();
    process.stderr.write(`appending ${count} messages, ${target.label}...\n`);
    runs.push(await run(target));
  }
  const cpu = cpus();
  console.log(`## ${database ? 'PostgresStore' : 'SqliteStore'} append throughput\n`);
  console.log(`- date: ${new Date().toISOString()}`);
  console.log(`- node: ${process.version}`);
  console.log(`- cpu: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores`);
  console.log(`- ${channels} channels, ${inflight} appends in flight, batchMax ${batchMax}; a message counts once its promise resolved (after commit)\n`);
  console.log('| store | messages | seconds | msgs/s |');
  console.log('|---|---:|---:|---:|');
  for (const r of runs) {
    console.log(`| ${r.label} | ${r.count} | ${r.seconds.toFixed(2)} | ${Math.round(r.perSecond)} |`);
  }
}

runMain(main);
