/**
 * Room fan-out on one machine (issue #4): `--members` guests in `lobby`,
 * held by `--procs` client processes (worker.ts) over one
 * transport, and one more connection that sends `--rate` numbered messages
 * a second for `--seconds` to the lobby. The server (bench/harness/server-child.ts)
 * runs with the embedded SQLite store in a temporary data directory, as
 * `webim start` does by default, with the per-IP and rate limits lifted.
 * For each message: the time from its send to its last receipt; for the
 * window: deliveries per second and per CPU-second of the server, and any
 * delivery that never came. Prints markdown.
 *
 *   npm run build && node dist/bench/fanout/fanout-bench.js --transport sockjs --members 1000 --rate 10,100
 *
 * `--rate` takes a list: the windows run one after another on the same
 * logged-in members, since logging 1000 guests in costs more than a window.
 * `--profile DIR` writes a V8 CPU profile of the server per window.
 *
 * `--nodes 2` spreads the room over two nodes (nodes.ts):
 * two servers sharing Redis (`--redis`, under a key prefix of the run's
 * own) and a PostgreSQL database created for the run (on `--postgres`,
 * dropped after); the client processes alternate between the nodes, so
 * half the members are on each, and the sender is on the first. Server
 * CPU is the sum of both nodes'.
 * Stops by itself (deadline below) and kills every process it started.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BenchSession, type BenchTransport, FILLER, isTransport, openSession } from '../harness/chat-session.js';
import { runMain, Teardown } from '../harness/lifetime.js';
import { intFlag, sendPaced, sleep } from '../harness/measure.js';
import { exited, nextMessage } from '../harness/server-handle.js';
import { FanoutNodes, machineCpuMs } from './nodes.js';
import { FANOUT_HEADER, fanoutRow, summarize, type WindowResult } from './report.js';
import { bodyPrefix, type FromWorker, type ToWorker, type WindowReport } from './worker.js';

const { values } = parseArgs({
  options: {
    transport: { type: 'string', default: 'ws' },
    members: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '5' },
    procs: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '8' },
    drain: { type: 'string', default: '20' },
    profile: { type: 'string' },
    'rows-only': { type: 'boolean', default: false },
    nodes: { type: 'string', default: '1' },
    redis: { type: 'string', default: process.env.WEBIM_BENCH_REDIS ?? 'redis://127.0.0.1:6379' },
    postgres: { type: 'string', default: process.env.WEBIM_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});

function transportOf(text: string | undefined): BenchTransport {
  if (!isTransport(text)) throw new Error(`--transport must be ws, sockjs or sockjs-xhr-streaming, not ${text}`);
  return text;
}

const transport = transportOf(values.transport);
const members = intFlag('members', values.members, 1, 15_000);
const rates = (values.rate ?? '').split(',').map((r) => intFlag('rate', r, 1, 10_000));
const seconds = intFlag('seconds', values.seconds, 1, 600);
const procs = intFlag('procs', values.procs, 1, 32);
// Logins in flight per worker: enough to keep the server busy, few enough not to time out behind each other.
const concurrency = intFlag('concurrency', values.concurrency, 1, 1000);
const drainSeconds = intFlag('drain', values.drain, 1, 300);
const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
const nodeCount = intFlag('nodes', values.nodes, 1, 2);

// Setup is O(members^2) on the server (every login tells everyone); the windows are bounded by their own timers.
const DEADLINE_MS = (60 + members / 10 + rates.length * (seconds + drainSeconds + 60)) * 1000;
const teardown = new Teardown();
const dataDir = teardown.tempDir('webim-fanout-');
const log = (line: string): boolean => process.stderr.write(`fanout ${transport}: ${line}\n`);

function tell(workers: readonly ChildProcess[], msg: ToWorker): void {
  for (const w of workers) w.send(msg);
}

/** Opens the members, logs them in, and waits until every presence frame they caused has arrived. */
async function setUp(ports: readonly number[]): Promise<ChildProcess[]> {
  const workers = Array.from({ length: Math.min(procs, members) }, () => {
    // NODE_ENV=production turns off sockjs-client's debug calls, which cost per frame even when silent.
    // Profiled workers write their .cpuprofile on exit: main lets them leave on their own at the end.
    const execArgv = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
    const script = fileURLToPath(new URL('./worker.js', import.meta.url));
    return teardown.track(fork(script, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_ENV: 'production' } }));
  });
  const started = performance.now();
  const progress = new Array<number>(workers.length).fill(0);
  let shown = 0;
  let first = 0;
  const logins = workers.map((w, i) => {
    const count = Math.floor(members / workers.length) + (i < members % workers.length ? 1 : 0);
    const start: ToWorker = { type: 'start', port: ports[i % ports.length] as number, transport, prefix: 'm', first, count, address: `127.0.0.${2 + i}`, concurrency };
    first += count;
    w.on('message', (m: FromWorker) => {
      if (m.type !== 'progress') return;
      progress[i] = m.loggedIn;
      const total = progress.reduce((a, b) => a + b, 0);
      if (total - shown >= 250) log(`${(shown = total)} logged in after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    });
    w.send(start);
    return nextMessage<FromWorker>(w, (m) => m.type === 'loggedIn', `worker ${i} logins`, DEADLINE_MS);
  });
  let failed = 0;
  for (const r of await Promise.all(logins)) {
    if (r.type !== 'loggedIn') continue;
    failed += r.failed;
    if (r.failed > 0) log(`${r.failed} logins failed, first: ${r.firstError}`);
  }
  if (failed > 0) throw new Error(`${failed} of ${members} logins failed`);
  const syncs = workers.map((w, i) => nextMessage<FromWorker>(w, (m) => m.type === 'synced', `worker ${i} sync`, 120_000));
  tell(workers, { type: 'sync' });
  let presence = 0;
  for (const r of await Promise.all(syncs)) {
    if (r.type !== 'synced') continue;
    presence += r.presence;
    if (r.errors > 0) throw new Error(`a worker saw ${r.errors} errors, first: ${r.firstError}`);
  }
  log(`${members} members logged in and drained in ${((performance.now() - started) / 1000).toFixed(1)} s (${presence} presence frames)`);
  return workers;
}

/** Sends `rate` messages a second for `seconds` to the lobby. */
function sendWindow(sender: BenchSession, window: number, rate: number): Promise<number[]> {
  const prefix = bodyPrefix(window);
  return sendPaced(rate * seconds, rate, (i) =>
    sender.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: `${prefix}${i} ${FILLER}`, cid: `w${window}-${i}` }),
  );
}

async function runWindow(nodes: FanoutNodes, workers: readonly ChildProcess[], sender: BenchSession, window: number, rate: number): Promise<WindowResult> {
  // Listening for `done` first: a worker whose connections have all closed reports at once.
  const dones = workers.map((w, i) =>
    nextMessage<FromWorker>(w, (m) => m.type === 'done' && m.window === window, `worker ${i} window ${window}`, (seconds + drainSeconds + 45) * 1000),
  );
  // Awaited below; until then a failure must not count as unhandled.
  for (const d of dones) d.catch(() => undefined);
  const expecting = workers.map((w, i) => nextMessage<FromWorker>(w, (m) => m.type === 'expecting' && m.window === window, `worker ${i} expect`, 30_000));
  tell(workers, { type: 'expect', window, messages: rate * seconds });
  await Promise.all(expecting);
  const profileFile = profileDir === undefined ? undefined : join(profileDir, `server-${transport}-${members}x${rate}.cpuprofile`);
  if (profileFile !== undefined) await nodes.first.ask({ type: 'profile-start' }, 'profile');
  const load1 = loadavg()[0] ?? NaN;
  const ackedBefore = sender.acks;
  const machineBefore = machineCpuMs();
  const benchBefore = process.cpuUsage();
  await nodes.loop();
  log(`window ${window}: ${rate} msg/s for ${seconds} s to ${members} members...`);
  const sentAt = await sendWindow(sender, window, rate);
  // Whatever has not arrived `drain` seconds after the last send counts as missing.
  const drainUntil = performance.now() + drainSeconds * 1000;
  const collect = setTimeout(() => tell(workers, { type: 'collect', window }), drainSeconds * 1000);
  const reports = (await Promise.all(dones)).filter((r): r is WindowReport => r.type === 'done');
  clearTimeout(collect);
  // The sender's acks queue behind the fan-out on its own connection: late is not lost, until the drain is over.
  while (sender.acks - ackedBefore < sentAt.length && !sender.closed && performance.now() < drainUntil) await sleep(50);
  for (const r of reports) {
    if (r.closed + r.errors + r.starved + r.partial === 0) continue;
    log(`window ${window}: a worker had ${r.closed} closed, ${r.starved} starved and ${r.partial} partly served connections, ${r.errors} errors (first: ${r.firstError ?? 'none'})`);
  }
  const serverUse = await nodes.loop();
  const machine = machineCpuMs() - machineBefore;
  const bench = process.cpuUsage(benchBefore);
  if (profileFile !== undefined) {
    const p = await nodes.first.ask({ type: 'profile-stop', file: profileFile }, 'profile');
    log(p.error !== undefined ? `profile failed: ${p.error}` : `server profile in ${profileFile}`);
  }
  const benchCpuMs = (bench.user + bench.system) / 1000;
  return summarize({ transport: nodeCount > 1 ? `${transport}, ${nodeCount} nodes` : transport, members, rate, sentAt, acked: sender.acks - ackedBefore, reports, server: serverUse, machineCpuMs: machine, benchCpuMs, load1 });
}

async function main(): Promise<void> {
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const serverArgs = ['--host', '127.0.0.1', '--port', '0', '--log-level', 'warn',
    '--max-connections-per-ip', '1000000', '--rate-limit', '1000000', '--rate-burst', '1000000'];
  const nodes = await FanoutNodes.start({ count: nodeCount, args: serverArgs, dataDir, postgres: values.postgres as string, redis: values.redis as string, teardown });
  if (profileDir !== undefined) await nodes.first.ask({ type: 'profile-start' }, 'profile');
  const workers = await setUp(nodes.ports);
  if (profileDir !== undefined) await nodes.first.ask({ type: 'profile-stop', file: join(profileDir, `server-${transport}-${members}-logins.cpuprofile`) }, 'profile');

  // The sender logs in last, so it alone gets no presence storm; it is a lobby member like the others.
  const sender = await openSession(transport, nodes.first.port, '127.0.0.1');
  await sender.request({ cmd: 'login', name: 'sender' }, 'login', 30_000);
  await sender.request({ cmd: 'ping' }, 'pong', 30_000);
  await sleep(1000);

  if (!values['rows-only']) {
    console.log(`## Room fan-out: ${transport}, ${members} members\n`);
    console.log(`- date: ${new Date().toISOString()}; node ${process.version}; ${cpus()[0]?.model ?? 'unknown CPU'} x ${cpus().length}`);
    const stores = nodeCount > 1 ? `${nodeCount} nodes sharing Redis and PostgreSQL, members alternating between them, sender on the first` : 'SQLite store (default settings)';
    console.log(`- ${procs} client processes; one sender; ${seconds} s per window; ${stores}; missing: not there ${drainSeconds} s after the last send`);
    if (profileDir !== undefined) console.log('- profiled: the sampling profiler inflates server CPU, and the event loop reads as busy throughout');
    console.log(`\n${FANOUT_HEADER}`);
  }
  // Each row as soon as its window ends: a later window that fails or is killed leaves the earlier ones.
  const results: WindowResult[] = [];
  for (const [i, rate] of rates.entries()) {
    const result = await runWindow(nodes, workers, sender, i, rate);
    console.log(fanoutRow(result));
    results.push(result);
    await sleep(1000);
  }
  sender.close();

  await nodes.stop();
  await Promise.all(
    workers.map((w) => {
      const gone = exited(w, 5000);
      w.disconnect();
      return gone;
    }),
  );
  const bad = results.filter((r) => r.missing !== 0 || r.disorder !== 0 || r.acked !== r.messages);
  if (bad.length > 0) {
    log(`${bad.length} window(s) lost, reordered or left unacked messages`);
    process.exitCode = 1;
  }
}

runMain(main, {
  teardown,
  deadline: { ms: DEADLINE_MS, giveUp: () => log(`not done after ${Math.round(DEADLINE_MS / 1000)} s, giving up`) },
  signals: true,
  // The sender's sockjs-client may hold keep-alive sockets and timers; stdout is a pipe or file, written synchronously.
  exit: 'always',
});
