/**
 * Held Comet polls on one machine: the server's memory per held poll, and
 * the time one room message takes to reach every poller. The server runs
 * as a child process (bench/harness/server-child.ts); `--procs` client
 * processes (worker.ts) hold `--polls` polls between them, from
 * source addresses 127.0.0.2, 127.0.0.3, ... Prints a markdown table.
 *
 *   npm run bench:longpoll -- --polls 10000 --procs 4
 *
 * Goals (issue #3): under 16 KiB of server memory per held poll, and every
 * poller has the message within one second. Stops by itself within three
 * minutes and kills every process it started.
 */
import { fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { runMain, Teardown } from '../harness/lifetime.js';
import { intFlag, now, quantile, sleep } from '../harness/measure.js';
import { cutShort } from '../harness/serve-bench.js';
import { type Memory, nextMessage, SERVER_CHILD, SERVER_NODE_ARGS, ServerChild } from '../harness/server-handle.js';
import type { FromWorker, ToWorker } from './worker.js';

const DEADLINE_MS = 170_000;
const ADDRESSES_PER_PROC = 8;

const { values } = parseArgs({
  options: {
    polls: { type: 'string', default: '10000' },
    procs: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '32' },
    // How long each settled reading may wait (serve-bench.ts); unset: the server's default. --quick runs pass 10 s.
    'settle-ms': { type: 'string' },
  },
});

const polls = intFlag('polls', values.polls, 1, 100_000);
const procs = intFlag('procs', values.procs, 1, 30);
const concurrency = intFlag('concurrency', values.concurrency, 1, 1000);
const settleMs = values['settle-ms'] === undefined ? undefined : intFlag('settle-ms', values['settle-ms'], 1, 120_000);
const teardown = new Teardown();
const dataDir = teardown.tempDir('webim-lpbench-');

/** settle: wait for V8 to give back what the setup grew (serve-bench.ts), for the two readings a figure is the difference of. */
function memory(server: ServerChild, settle = false): Promise<Memory> {
  return server.memory(settle, settleMs);
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

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0] ?? NaN;
  const serverArgs = ['--host', '127.0.0.1', '--port', '0', '--store', 'memory', '--data-dir', dataDir, '--log-level', 'warn',
    '--max-connections-per-ip', '100000', '--rate-limit', '1000000', '--rate-burst', '1000000', '--poll-timeout', '55000'];
  const server = await ServerChild.fork('server', SERVER_CHILD, serverArgs, { execArgv: SERVER_NODE_ARGS, forked: (c) => teardown.track(c), readyMs: 15_000 });
  const { ws, token } = await login(server.port);
  const before = await memory(server, true);

  process.stderr.write(`holding ${polls} polls from ${procs} processes...\n`);
  const setupStarted = performance.now();
  const workerScript = fileURLToPath(new URL('./worker.js', import.meta.url));
  const workers = Array.from({ length: procs }, () => teardown.track(fork(workerScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  const marker = `bench-${Date.now()}`;
  const readies = workers.map((w, i) => {
    const count = Math.floor(polls / procs) + (i < polls % procs ? 1 : 0);
    const addresses = Array.from({ length: ADDRESSES_PER_PROC }, (_, j) => `127.0.0.${2 + i * ADDRESSES_PER_PROC + j}`);
    w.on('message', (m: FromWorker) => {
      if (m.type === 'progress') process.stderr.write(`  worker ${i}: ${m.held} held\n`);
    });
    const start: ToWorker = { type: 'start', port: server.port, count, addresses, token, marker, concurrency };
    w.send(start);
    return nextMessage<FromWorker>(w, (m) => m.type === 'ready', `worker ${i} setup`, 140_000);
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

  await server.loop();
  process.stderr.write(`${held} polls held; sending one room message...\n`);
  const dones = workers.map((w, i) => nextMessage<FromWorker>(w, (m) => m.type === 'done', `worker ${i} delivery`, 15_000));
  const sentAt = now();
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
  const serverBusy = await server.loop();
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

  await server.stop();
}

runMain(main, {
  teardown,
  deadline: { ms: DEADLINE_MS, giveUp: () => process.stderr.write(`bench: not done after ${DEADLINE_MS / 1000} s, giving up\n`) },
});
