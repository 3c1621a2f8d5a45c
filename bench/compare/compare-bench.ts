/**
 * webim side by side with the servers a user would pick instead (issue
 * #8), in one run on one machine: the bare `ws` ceiling, Socket.IO 4 and
 * sockjs 0.3.24 (peers/), each a child process measured the same
 * way, the server pinned to core 0 and the load to core 1 where taskset
 * allows. Prints markdown: idle connections, room fan-out with a 1:1 round
 * trip alongside, slow consumers, held long-polls, a mixed webim room, and
 * the issue's goals judged on this run's figures.
 *
 *   npm run build && node dist/bench/compare/compare-bench.js [--quick] [--servers ws,webim] [--only ws,poll,mixed]
 *
 * Stops by itself (deadline below) and kills every process it started.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config.js';
import { runMain } from '../harness/lifetime.js';
import type { ServerName } from './clients.js';
import { fanoutTable, unmeasuredSection, goals, idleTable, mixedTable, pollTable, slowTable } from './report.js';
import { type MixedSuite, mixedSuite, type PollSuite, pollSuite, type Sizes, type WsSuite, wsSuite } from './scenarios.js';
import { pinBench, unsettledReadings } from './servers.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    servers: { type: 'string', default: 'ws,webim,socket.io,sockjs' },
    only: { type: 'string', default: 'ws,poll,mixed' },
    members: { type: 'string' },
    seconds: { type: 'string' },
    polls: { type: 'string' },
    budget: { type: 'string' },
  },
});
const quick = values.quick;
const servers = (values.servers ?? '').split(',').filter((s): s is ServerName => ['ws', 'webim', 'socket.io', 'sockjs'].includes(s));
const only = new Set((values.only ?? '').split(','));
const num = (text: string | undefined, fallback: number): number => (text === undefined ? fallback : Number(text));

// Whether webim caps presence for large rooms (--presence-limit): without it, 10,000 distinct logins are a presence storm of 10^8 frames.
const presenceLimited = 'presenceLimit' in parseConfig([], {});
const members = num(values.members, quick ? 2000 : 10_000);
const sizes: Sizes = {
  members,
  small: Math.min(1000, members),
  rates: [10, 100],
  seconds: num(values.seconds, quick ? 2 : 5),
  drain: quick ? 4 : 10,
  polls: num(values.polls, quick ? 1000 : 5000),
  mixed: quick ? 300 : 1500,
  // Quick: ten devices per user, so that the first thousand logins (each announced to all below --presence-limit) take seconds.
  devices: quick ? 10 : presenceLimited ? 1 : Math.max(1, Math.floor(members / 100)),
  quietMs: quick ? 8000 : 20_000,
  // Quick: the baseline settles in about 9 s; readings with the connections may come before the young generation has
  // shrunk (quick's memory figures err high), so that the mixed room still fits its 6 minutes.
  settleLimitMs: quick ? 10_000 : undefined,
};
// The run skips suites that no longer fit its budget (seconds), so that what ran is still printed.
const budgetMs = num(values.budget, quick ? 300 : 1440) * 1000;
// At least what a suite has taken (2026-12-03, quick: ws 43-51 s, poll 30-34, mixed 7-8; full: ws 130-194, poll 61-70, mixed 16).
const ESTIMATE_MS = { ws: (quick ? 55 : 200) * 1000, poll: (quick ? 35 : 75) * 1000, mixed: (quick ? 12 : 40) * 1000 };
const DEADLINE_MS = budgetMs + 60_000;
const started = performance.now();
const log = (line: string): boolean => process.stderr.write(`compare: ${line}\n`);

const notes: string[] = [];
const ws: WsSuite[] = [];
const polls: PollSuite[] = [];
let mixed: MixedSuite | undefined;
let pinned = 'not pinned yet';
const [l1 = NaN, l5 = NaN, l15 = NaN] = loadavg();

function version(pkg: string): string {
  // From dist/bench/compare/ up to the repository.
  const path = pkg === 'webim' ? '../../../package.json' : `../../../node_modules/${pkg}/package.json`;
  try {
    return (JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown CPU';
  } catch {
    return cpus()[0]?.model ?? 'unknown CPU';
  }
}

async function attempt<T>(what: string, estimateMs: number, run: () => Promise<T>, notes: string[]): Promise<T | undefined> {
  const t0 = performance.now();
  if (t0 - started + estimateMs > budgetMs) {
    log(`${what} skipped: out of time`);
    notes.push(`- ${what} skipped: it would not fit the ${Math.round(budgetMs / 1000)} s budget`);
    return undefined;
  }
  try {
    const r = await run();
    log(`${what} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    return r;
  } catch (err) {
    log(`${what} failed: ${String(err)}`);
    notes.push(`- ${what} failed: ${String(err).split('\n', 1)[0]}`);
    return undefined;
  }
}

async function main(): Promise<void> {
  pinned = pinBench();
  if (only.has('ws')) {
    for (const s of servers) {
      const r = await attempt(`${s} idle/fan-out/slow`, ESTIMATE_MS.ws, () => wsSuite(s, sizes, (l) => log(`${s}: ${l}`)), notes);
      if (r) ws.push(r);
    }
  }
  if (only.has('poll')) {
    for (const s of servers.filter((n) => n !== 'ws')) {
      const r = await attempt(`${s} long-poll`, ESTIMATE_MS.poll, () => pollSuite(s, sizes, (l) => log(`${s}: ${l}`)), notes);
      if (r) polls.push(r);
    }
  }
  if (only.has('mixed') && servers.includes('webim')) mixed = await attempt('webim mixed room', ESTIMATE_MS.mixed, () => mixedSuite(sizes, (l) => log(`mixed: ${l}`)), notes);
  console.log(report());
  if (notes.length > 0) process.exitCode = 1;
}

function report(): string {

  const out: string[] = [
    `- date: ${new Date().toISOString()}; ${quick ? 'quick run' : 'full run'}`,
    `- versions: node ${process.version}, webim ${version('webim')}, ws ${version('ws')}, socket.io ${version('socket.io')} (engine.io ${version('engine.io')}), sockjs ${version('sockjs')}; clients socket.io-client ${version('socket.io-client')}, sockjs-client ${version('sockjs-client')}`,
    `- machine: ${cpus().length} cores (${cpuModel()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; load average at start (1 / 5 / 15 min) ${l1.toFixed(2)} / ${l5.toFixed(2)} / ${l15.toFixed(2)}`,
    `- placement: ${pinned}`,
    `- webim: SQLite store (default settings), per-IP and rate limits lifted; ${sizes.devices === 1 ? 'every connection its own logged-in user' : `${sizes.devices} connections (devices) per logged-in user`}; peers: compression off, no persistence`,
    `- message: the same body (~90 bytes) for all; webim's frame carries its protocol's fields around it`,
    '',
    '### Goals',
    '',
    ...goals(ws, polls),
    '',
    '### Idle WebSocket connections',
    '',
    `Server RSS and heap (after two forced collections) with ${sizes.members.toLocaleString('en-US')} connections open, each in a room (webim: logged in, in \`lobby\`, the first ${sizes.small} also in \`small\`), less the same before them. Setup: connecting (and logging in and joining) them all.`,
    '',
    ...idleTable(ws),
    '',
    '### Room fan-out and 1:1 round trip',
    '',
    `One sender posts numbered messages to a room for ${sizes.seconds} s; a delivery not there ${sizes.drain} s after the last send is counted missing. Server CPU is its process.cpuUsage from the first send to the last receipt. ` +
      'Meanwhile two users of a room of their own exchange a ping and its answer every 10 ms. Above what one core can deliver, the rows say what was delivered.',
    '',
    ...fanoutTable(ws),
    '',
    '### Slow consumers',
    '',
    '1% of the small room stops reading (its sockets paused) and the small room\'s fastest window runs again.',
    '',
    ...slowTable(ws),
    '',
    '### Held long-polls',
    '',
    `${sizes.polls.toLocaleString('en-US')} clients each hold a poll (webim Comet, Socket.IO polling, sockjs xhr-polling); server RSS and heap per poll; then one message to the room they are in.`,
    '',
    ...pollTable(polls),
    '',
    '### Mixed transports (webim)',
    '',
    ...(mixed ? mixedTable(mixed) : ['not run']),
    '',
    ...(unsettledReadings.length > 0
      ? ['### Memory readings cut short', '', 'These waited their whole limit with V8\'s young generation still grown (bench/harness/serve-bench.ts): the per-connection or per-poll RSS taken from them may err either way.', '', ...unsettledReadings.map((r) => `- ${r}`), '']
      : []),
    ...unmeasuredSection(ws),
    ...(notes.length > 0 ? ['### Failures', '', ...notes, ''] : []),
    `Elapsed: ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  ];
  return out.join('\n');
}

runMain(main, {
  deadline: {
    ms: DEADLINE_MS,
    giveUp: () => {
      log(`not done after ${DEADLINE_MS / 1000} s, giving up`);
      notes.push(`- the run stopped at its ${DEADLINE_MS / 1000} s deadline; what had finished is above`);
      // Workers and servers leave when their IPC channel closes with us.
      console.log(report());
    },
  },
  signals: true,
  // sockjs-client and socket.io-client may hold keep-alive sockets and timers.
  exit: 'always',
});
