/**
 * Room fan-out on one machine (issue #4): `--members` guests in `lobby`,
 * held by `--procs` client processes (bench/fanout-worker.ts) over one
 * transport, and one more connection that sends `--rate` numbered messages
 * a second for `--seconds` to the lobby. The server (bench/server-child.ts)
 * runs with the embedded SQLite store in a temporary data directory, as
 * `webim start` does by default, with the per-IP and rate limits lifted.
 * For each message: the time from its send to its last receipt; for the
 * window: deliveries per second and per CPU-second of the server, and any
 * delivery that never came. Prints markdown.
 *
 *   npm run build && node dist/bench/fanout-bench.js --transport sockjs --members 1000 --rate 10,100
 *
 * `--rate` takes a list: the windows run one after another on the same
 * logged-in members, since logging 1000 guests in costs more than a window.
 * `--profile DIR` writes a V8 CPU profile of the server per window.
 *
 * `--nodes 2` spreads the room over two nodes (bench/fanout-nodes.ts):
 * two servers sharing Redis (`--redis`, under a key prefix of the run's
 * own) and a PostgreSQL database created for the run (on `--postgres`,
 * dropped after); the client processes alternate between the nodes, so
 * half the members are on each, and the sender is on the first. Server
 * CPU is the sum of both nodes'.
 * Stops by itself (deadline below) and kills every process it started.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BenchSession, type BenchTransport, isTransport, now, openSession } from './bench-client.js';
import { FANOUT_HEADER, fanoutRow, summarize, type WindowResult } from './fanout-report.js';
import { bodyPrefix, type FromWorker, type ToWorker, type WindowReport } from './fanout-worker.js';
import { type BenchCluster, openCluster } from './fanout-nodes.js';
import { once } from './compare-servers.js';
import type { FromServer, ToServer } from './server-child.js';

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

function int(name: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}, not ${text}`);
  return n;
}

function transportOf(text: string | undefined): BenchTransport {
  if (!isTransport(text)) throw new Error(`--transport must be ws, sockjs or sockjs-xhr-streaming, not ${text}`);
  return text;
}

const transport = transportOf(values.transport);
const members = int('members', values.members, 1, 15_000);
const rates = (values.rate ?? '').split(',').map((r) => int('rate', r, 1, 10_000));
const seconds = int('seconds', values.seconds, 1, 600);
const procs = int('procs', values.procs, 1, 32);
// Logins in flight per worker: enough to keep the server busy, few enough not to time out behind each other.
const concurrency = int('concurrency', values.concurrency, 1, 1000);
const drainSeconds = int('drain', values.drain, 1, 300);
const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
const nodeCount = int('nodes', values.nodes, 1, 2);
let cluster: BenchCluster | undefined;
// A chat line of typical length after the sequence number.
const FILLER = 'the quick brown fox jumps over the lazy dog while the lobby reads along';

// Setup is O(members^2) on the server (every login tells everyone); the windows are bounded by their own timers.
const DEADLINE_MS = (60 + members / 10 + rates.length * (seconds + drainSeconds + 60)) * 1000;
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const children: ChildProcess[] = [];
/** The server processes: one, or one per node. */
const servers: ChildProcess[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'webim-fanout-'));
const log = (line: string): boolean => process.stderr.write(`fanout ${transport}: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  void cluster?.drop();
}

const deadline = setTimeout(() => {
  log(`not done after ${Math.round(DEADLINE_MS / 1000)} s, giving up`);
  cleanup();
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanup();
    process.exit(1);
  });
}

async function ask(server: ChildProcess, msg: ToServer, answer: FromServer['type']): Promise<FromServer> {
  // Generous: an overloaded server takes the IPC message only after the fan-out queued before it.
  const reply = once<FromServer>(server, (m) => m.type === answer, `server ${msg.type}`, 120_000);
  server.send(msg);
  return reply;
}

async function oneLoop(server: ChildProcess): Promise<{ cpuMs: number; busyMs: number; wallMs: number }> {
  const m = await ask(server, { type: 'loop' }, 'loop');
  if (m.type !== 'loop') throw new Error('unreachable');
  return m;
}

/** The server's share of the window; with several nodes, their CPU and busy time added up. */
async function serverLoop(server: ChildProcess): Promise<{ cpuMs: number; busyMs: number; wallMs: number }> {
  const all = await Promise.all((servers.length > 0 ? servers : [server]).map(oneLoop));
  return {
    cpuMs: all.reduce((a, m) => a + m.cpuMs, 0),
    busyMs: all.reduce((a, m) => a + m.busyMs, 0),
    wallMs: Math.max(...all.map((m) => m.wallMs)),
  };
}

/** CPU ms all cores of the machine have been busy since boot (/proc/stat counts in USER_HZ, 100 a second). */
function machineCpuMs(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields;
  return (user + nice + system + irq + softirq) * 10;
}

function tell(workers: readonly ChildProcess[], msg: ToWorker): void {
  for (const w of workers) w.send(msg);
}

/** Opens the members, logs them in, and waits until every presence frame they caused has arrived. */
async function setUp(ports: readonly number[]): Promise<ChildProcess[]> {
  const workers = Array.from({ length: Math.min(procs, members) }, () => {
    // NODE_ENV=production turns off sockjs-client's debug calls, which cost per frame even when silent.
    // Profiled workers write their .cpuprofile on exit: main lets them leave on their own at the end.
    const execArgv = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
    const w = fork(here('./fanout-worker.js'), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_ENV: 'production' } });
    children.push(w);
    return w;
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
    return once<FromWorker>(w, (m) => m.type === 'loggedIn', `worker ${i} logins`, DEADLINE_MS);
  });
  let failed = 0;
  for (const r of await Promise.all(logins)) {
    if (r.type !== 'loggedIn') continue;
    failed += r.failed;
    if (r.failed > 0) log(`${r.failed} logins failed, first: ${r.firstError}`);
  }
  if (failed > 0) throw new Error(`${failed} of ${members} logins failed`);
  const syncs = workers.map((w, i) => once<FromWorker>(w, (m) => m.type === 'synced', `worker ${i} sync`, 120_000));
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

/** Sends `rate` messages a second for `seconds`, each at its own scheduled time (not drifting with the timer's lateness). */
async function sendPaced(sender: BenchSession, window: number, rate: number): Promise<number[]> {
  const n = rate * seconds;
  const sentAt: number[] = [];
  const prefix = bodyPrefix(window);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait >= 1) await sleep(wait);
    sentAt.push(now());
    sender.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: `${prefix}${i} ${FILLER}`, cid: `w${window}-${i}` });
  }
  return sentAt;
}

async function runWindow(server: ChildProcess, workers: readonly ChildProcess[], sender: BenchSession, window: number, rate: number): Promise<WindowResult> {
  // Listening for `done` first: a worker whose connections have all closed reports at once.
  const dones = workers.map((w, i) =>
    once<FromWorker>(w, (m) => m.type === 'done' && m.window === window, `worker ${i} window ${window}`, (seconds + drainSeconds + 45) * 1000),
  );
  // Awaited below; until then a failure must not count as unhandled.
  for (const d of dones) d.catch(() => undefined);
  const expecting = workers.map((w, i) => once<FromWorker>(w, (m) => m.type === 'expecting' && m.window === window, `worker ${i} expect`, 30_000));
  tell(workers, { type: 'expect', window, messages: rate * seconds });
  await Promise.all(expecting);
  const profileFile = profileDir === undefined ? undefined : join(profileDir, `server-${transport}-${members}x${rate}.cpuprofile`);
  if (profileFile !== undefined) await ask(server, { type: 'profile-start' }, 'profile');
  const load1 = loadavg()[0] ?? NaN;
  const ackedBefore = sender.acks;
  const machineBefore = machineCpuMs();
  const benchBefore = process.cpuUsage();
  await serverLoop(server);
  log(`window ${window}: ${rate} msg/s for ${seconds} s to ${members} members...`);
  const sentAt = await sendPaced(sender, window, rate);
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
  const serverUse = await serverLoop(server);
  const machine = machineCpuMs() - machineBefore;
  const bench = process.cpuUsage(benchBefore);
  if (profileFile !== undefined) {
    const p = await ask(server, { type: 'profile-stop', file: profileFile }, 'profile');
    log(p.type === 'profile' && p.error !== undefined ? `profile failed: ${p.error}` : `server profile in ${profileFile}`);
  }
  const benchCpuMs = (bench.user + bench.system) / 1000;
  return summarize({ transport: nodeCount > 1 ? `${transport}, ${nodeCount} nodes` : transport, members, rate, sentAt, acked: sender.acks - ackedBefore, reports, server: serverUse, machineCpuMs: machine, benchCpuMs, load1 });
}

async function main(): Promise<void> {
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const serverArgs = ['--host', '127.0.0.1', '--port', '0', '--log-level', 'warn',
    '--max-connections-per-ip', '1000000', '--rate-limit', '1000000', '--rate-burst', '1000000'];
  if (nodeCount > 1) {
    cluster = await openCluster(values.postgres as string, values.redis as string);
    serverArgs.push(...cluster.args);
  }
  const ports: number[] = [];
  for (let i = 0; i < nodeCount; i++) {
    const child = fork(here('./server-child.js'), [...serverArgs, '--data-dir', join(dataDir, `node${i}`)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    const up = await once<FromServer>(child, (m) => m.type === 'ready', 'server start', 30_000);
    if (up.type !== 'ready') throw new Error('unreachable');
    servers.push(child);
    ports.push(up.port);
  }
  const server = servers[0] as ChildProcess;
  const ready = { port: ports[0] as number };
  if (profileDir !== undefined) await ask(server, { type: 'profile-start' }, 'profile');
  const workers = await setUp(ports);
  if (profileDir !== undefined) await ask(server, { type: 'profile-stop', file: join(profileDir, `server-${transport}-${members}-logins.cpuprofile`) }, 'profile');

  // The sender logs in last, so it alone gets no presence storm; it is a lobby member like the others.
  const sender = await openSession(transport, ready.port, '127.0.0.1');
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
    const result = await runWindow(server, workers, sender, i, rate);
    console.log(fanoutRow(result));
    results.push(result);
    await sleep(1000);
  }
  sender.close();

  const stopped = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5000);
    server.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  for (const s of servers) s.send({ type: 'stop' } satisfies ToServer);
  await stopped;
  await cluster?.drop();
  cluster = undefined;
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5000);
          w.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          w.disconnect();
        }),
    ),
  );
  const bad = results.filter((r) => r.missing !== 0 || r.disorder !== 0 || r.acked !== r.messages);
  if (bad.length > 0) {
    log(`${bad.length} window(s) lost, reordered or left unacked messages`);
    process.exitCode = 1;
  }
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanup();
    clearTimeout(deadline);
    // The sender's sockjs-client may hold keep-alive sockets and timers; stdout is a pipe or file, written synchronously.
    process.exit();
  });
