/**
 * Held Comet polls on one machine: the server's memory per held poll, and
 * the time one room message takes to reach every poller. The server runs
 * as a child process (bench/server-child.ts); `--procs` client processes
 * (bench/longpoll-worker.ts) hold `--polls` polls between them, from
 * source addresses 127.0.0.2, 127.0.0.3, ... Prints a markdown table.
 *
 *   npm run bench:longpoll -- --polls 10000 --procs 4
 *
 * Goals (issue #3): under 16 KiB of server memory per held poll, and every
 * poller has the message within one second. Stops by itself within three
 * minutes and kills every process it started.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { cutShort } from './bench-ipc.js';
import { once, SERVER_NODE_ARGS, vmRss } from './compare-servers.js';
import type { FromServer, ToServer } from './server-child.js';
import type { FromWorker, ToWorker } from './longpoll-worker.js';

const DEADLINE_MS = 170_000;
const ADDRESSES_PER_PROC = 8;

const { values } = parseArgs({
  options: {
    polls: { type: 'string', default: '10000' },
    procs: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '32' },
    // How long each settled reading may wait (bench-ipc.ts); unset: the server's default. --quick runs pass 10 s.
    'settle-ms': { type: 'string' },
  },
});

function positive(name: string, text: string | undefined, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer in 1..${max}, not ${text}`);
  return n;
}

const polls = positive('polls', values.polls, 100_000);
const procs = positive('procs', values.procs, 30);
const concurrency = positive('concurrency', values.concurrency, 1000);
const settleMs = values['settle-ms'] === undefined ? undefined : positive('settle-ms', values['settle-ms'], 120_000);
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const children: ChildProcess[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'webim-lpbench-'));

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}

const deadline = setTimeout(() => {
  process.stderr.write(`bench: not done after ${DEADLINE_MS / 1000} s, giving up\n`);
  cleanup();
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

interface ServerState {
  rss: number;
  heap: number;
  /** V8's young generation at the reading (cutShort: the wait ran out before it shrank). */
  young: number;
  sockets: number;
  timers: number;
}

/** settle: wait for V8 to give back what the setup grew (bench-ipc.ts), for the two readings a figure is the difference of. */
async function memory(server: ChildProcess, settle = false): Promise<ServerState> {
  const request: ToServer = { type: 'mem', settle, ...(settleMs === undefined ? {} : { settleLimitMs: settleMs }) };
  const answer = once<FromServer>(server, (m) => m.type === 'mem', 'memory', 120_000);
  server.send(request);
  const m = await answer;
  if (m.type !== 'mem') throw new Error('unreachable');
  return { rss: vmRss(server.pid as number), heap: m.heapUsed, young: m.young, sockets: m.sockets, timers: m.timers };
}

/** ms the server's event loop was busy, and CPU ms it used, since the last call. */
async function loopBusy(server: ChildProcess): Promise<{ busyMs: number; cpuMs: number }> {
  const request: ToServer = { type: 'loop' };
  const answer = once<FromServer>(server, (m) => m.type === 'loop', 'event loop', 120_000);
  server.send(request);
  const m = await answer;
  return m.type === 'loop' ? m : { busyMs: NaN, cpuMs: NaN };
}

function login(port: number): Promise<{ ws: WebSocket; token: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ cmd: 'login', name: 'bench' })));
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { cmd: string; token?: string };
      if (m.cmd === 'login' && typeof m.token === 'string') resolve({ ws, token: m.token });
    });
  });
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0] ?? NaN;
  const serverArgs = ['--host', '127.0.0.1', '--port', '0', '--store', 'memory', '--data-dir', dataDir, '--log-level', 'warn',
    '--max-connections-per-ip', '100000', '--rate-limit', '1000000', '--rate-burst', '1000000', '--poll-timeout', '55000'];
  const server = fork(here('./server-child.js'), serverArgs, { execArgv: SERVER_NODE_ARGS, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(server);
  const ready = await once<FromServer>(server, (m) => m.type === 'ready', 'server start', 15_000);
  if (ready.type !== 'ready') throw new Error('unreachable');
  const { ws, token } = await login(ready.port);
  const before = await memory(server, true);

  process.stderr.write(`holding ${polls} polls from ${procs} processes...\n`);
  const setupStarted = performance.now();
  const workers = Array.from({ length: procs }, () => {
    const w = fork(here('./longpoll-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(w);
    return w;
  });
  const marker = `bench-${Date.now()}`;
  const readies = workers.map((w, i) => {
    const count = Math.floor(polls / procs) + (i < polls % procs ? 1 : 0);
    const addresses = Array.from({ length: ADDRESSES_PER_PROC }, (_, j) => `127.0.0.${2 + i * ADDRESSES_PER_PROC + j}`);
    w.on('message', (m: FromWorker) => {
      if (m.type === 'progress') process.stderr.write(`  worker ${i}: ${m.held} held\n`);
    });
    const start: ToWorker = { type: 'start', port: ready.port, count, addresses, token, marker, concurrency };
    w.send(start);
    return once<FromWorker>(w, (m) => m.type === 'ready', `worker ${i} setup`, 140_000);
  });
  const results = await Promise.all(readies);
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  let held = 0;
  for (const r of results) {
    if (r.type !== 'ready') continue;
    held += r.held;
    if (r.failed > 0) process.stderr.write(`  ${r.failed} sessions failed, first: ${r.firstError}\n`);
  }
  // The last polls reach the server: wait until it has a socket and a timer per held poll, then let it settle.
  let after = await memory(server);
  for (let i = 0; i < 50 && (after.sockets < held || after.timers < held); i++) {
    await sleep(200);
    after = await memory(server);
  }
  await sleep(1000);
  after = await memory(server, true);

  await loopBusy(server);
  process.stderr.write(`${held} polls held; sending one room message...\n`);
  const dones = workers.map((w, i) => once<FromWorker>(w, (m) => m.type === 'done', `worker ${i} delivery`, 15_000));
  const sentAt = performance.timeOrigin + performance.now();
  ws.send(JSON.stringify({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: marker, cid: marker }));
  const collect = setTimeout(() => {
    const msg: ToWorker = { type: 'collect' };
    for (const w of workers) w.send(msg);
  }, 10_000);
  const delivered = await Promise.all(dones);
  clearTimeout(collect);
  const latencies: number[] = [];
  let missing = 0;
  for (const d of delivered) {
    if (d.type !== 'done') continue;
    missing += d.missing;
    for (const at of d.times) latencies.push(at - sentAt);
  }
  latencies.sort((a, b) => a - b);
  const serverBusy = await loopBusy(server);
  ws.close();

  const kib = (bytes: number): string => (bytes / 1024).toFixed(2);
  const ms = (v: number): string => v.toFixed(1);
  const rssPer = (after.rss - before.rss) / held;
  const heapPer = (after.heap - before.heap) / held;
  const max = latencies.at(-1) ?? NaN;
  const rows: Array<[string, string]> = [
    ['date', new Date().toISOString().slice(0, 10)],
    ['node', process.version],
    ['CPU', `${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}`],
    ['load average at start (1 min)', loadAtStart.toFixed(2)],
    ['client processes', String(procs)],
    ['polls held', `${held} of ${polls} (set up in ${setupSeconds.toFixed(1)} s)`],
    ['server sockets / timers while held', `${after.sockets} / ${after.timers}`],
    ['server RSS before / after', `${(before.rss / 2 ** 20).toFixed(1)} MiB / ${(after.rss / 2 ** 20).toFixed(1)} MiB`],
    ['server RSS delta per held poll', `${kib(rssPer)} KiB`],
    ['young generation at the two readings (settled at most 2 MiB)', `${(before.young / 2 ** 20).toFixed(1)} / ${(after.young / 2 ** 20).toFixed(1)} MiB${cutShort(before.young) || cutShort(after.young) ? ': cut short, the RSS delta may err either way' : ''}`],
    ['server heap delta per held poll', `${kib(heapPer)} KiB`],
    ['pollers that got the message', `${latencies.length} (missing ${missing})`],
    ['message to all pollers p50 / p99 / max', `${ms(quantile(latencies, 0.5))} / ${ms(quantile(latencies, 0.99))} / ${ms(max)} ms`],
    ['server meanwhile: event loop busy / CPU used', `${ms(serverBusy.busyMs)} / ${ms(serverBusy.cpuMs)} ms`],
    ['goal: < 16 KiB per held poll', rssPer < 16 * 1024 && heapPer < 16 * 1024 ? 'met' : 'missed'],
    ['goal: every poller within 1 s', missing === 0 && latencies.length === held && max < 1000 ? 'met' : 'missed'],
  ];
  console.log('| measure | value |\n|---|---|');
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);

  const stop: ToServer = { type: 'stop' };
  server.send(stop);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5000);
    server.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanup();
    clearTimeout(deadline);
  });
