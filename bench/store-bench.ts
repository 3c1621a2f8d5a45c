/**
 * Append throughput of SqliteStore as the chat core sees it: many senders,
 * each waiting for its ack (the promise, which settles after commit) before
 * it sends again. Prints a markdown table.
 *
 *   npm run bench:store -- --count 200000 --inflight 2000 --channels 50
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteStore } from '../src/store/sqlite.js';
import type { NewMessage } from '../src/types.js';

interface Run {
  fsync: boolean;
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

async function run(fsync: boolean): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'webim-bench-'));
  const store = new SqliteStore({ dir, fsync, batchMax });
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
    return { fsync, count, seconds, perSecond: count / seconds };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs: Run[] = [];
  for (const fsync of [false, true]) {
    process.stderr.write(`appending ${count} messages, fsync ${fsync ? 'on' : 'off'}...\n`);
    runs.push(await run(fsync));
  }
  const cpu = cpus();
  console.log(`## SqliteStore append throughput\n`);
  console.log(`- date: ${new Date().toISOString()}`);
  console.log(`- node: ${process.version}`);
  console.log(`- cpu: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores`);
  console.log(`- ${channels} channels, ${inflight} appends in flight, batchMax ${batchMax}; a message counts once its promise resolved (after commit)\n`);
  console.log('| fsync | messages | seconds | msgs/s |');
  console.log('|---|---:|---:|---:|');
  for (const r of runs) {
    console.log(`| ${r.fsync ? 'on (FULL)' : 'off (NORMAL)'} | ${r.count} | ${r.seconds.toFixed(2)} | ${Math.round(r.perSecond)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
