/**
 * Server memory per idle WebSocket connection (issue 8): `--conns` guests
 * logged in over `/ws` (each a `lobby` member, so in a room), then quiet.
 * The server is bench/server-child.ts in a child process with `--expose-gc`;
 * its heap (after two full GCs) and RSS are read before the first connection
 * and after the last login has settled, and the difference divided by the
 * connections. The clients are one process here, from 127.0.0.2..
 * (4,000 connections per source address).
 *
 *   npm run build && node dist/bench/idle-bench.js --conns 2000
 *   node dist/bench/idle-bench.js --server /other/build/dist/bench/server-child.js   # another build, same measure
 *
 * `--presence-limit` is passed to the server (default 100) so that setting
 * up thousands of users costs seconds, not the O(n²) presence storm of
 * docs/protocol.md's full presence; it does not change what an idle connection
 * holds. Stops by itself within `--deadline` seconds and kills what it
 * started.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { SERVER_NODE_ARGS } from './compare-servers.js';
import type { FromServer, ToServer } from './server-child.js';

const { values } = parseArgs({
  options: {
    conns: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '50' },
    server: { type: 'string' },
    'presence-limit': { type: 'string', default: '100' },
    deadline: { type: 'string', default: '240' },
  },
});

const conns = Number(values.conns);
const concurrency = Number(values.concurrency);
const deadlineMs = Number(values.deadline) * 1000;
if (!Number.isInteger(conns) || conns < 1 || conns > 16_000) throw new Error('--conns must be an integer in 1..16000');
const serverScript = values.server ?? fileURLToPath(new URL('./server-child.js', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'webim-idle-'));
const children: ChildProcess[] = [];
const sockets: WebSocket[] = [];

function cleanup(): void {
  for (const s of sockets) s.terminate();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}

const deadline = setTimeout(() => {
  process.stderr.write(`idle: not done after ${deadlineMs / 1000} s, giving up\n`);
  cleanup();
  process.exit(1);
}, deadlineMs);
deadline.unref();

function ask(server: ChildProcess, msg: ToServer, type: FromServer['type']): Promise<FromServer> {
  return new Promise((resolve) => {
    const on = (m: FromServer): void => {
      if (m.type !== type) return;
      server.off('message', on);
      resolve(m);
    };
    server.on('message', on);
    server.send(msg);
  });
}

/** Settled (bench-ipc.ts): both readings wait for V8 to give back what the setup grew. */
async function mem(server: ChildProcess): Promise<{ heapUsed: number; rss: number }> {
  const m = await ask(server, { type: 'mem', settle: true }, 'mem');
  if (m.type !== 'mem') throw new Error('unreachable');
  return m;
}

/** Opens one connection from `address`, logs in as `name` and resolves once the `login` answer arrived. */
function connect(port: number, address: string, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { localAddress: address, perMessageDeflate: false });
    sockets.push(ws);
    ws.on('open', () => ws.send(JSON.stringify({ cmd: 'login', name })));
    ws.on('message', (data: Buffer) => {
      if (data.toString('utf8', 0, 16).startsWith('{"cmd":"login"')) resolve();
      else if (data.toString('utf8', 0, 16).startsWith('{"cmd":"error"')) reject(new Error(`${name}: ${data.toString()}`));
    });
    ws.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const args = ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn',
    '--max-connections-per-ip', '1000000', '--rate-limit', '1000000', '--rate-burst', '1000000'];
  // The limit is a flag of this webim; a build from before it reads it from the environment and ignores it.
  const env = { ...process.env, WEBIM_PRESENCE_LIMIT: values['presence-limit'] };
  const server = fork(serverScript, args, { execArgv: SERVER_NODE_ARGS, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(server);
  const ready = await new Promise<FromServer>((resolve) => server.once('message', resolve));
  if (ready.type !== 'ready') throw new Error('server did not start');
  const before = await mem(server);
  const t0 = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < conns) {
      const i = next++;
      await connect(ready.port, `127.0.0.${2 + Math.floor(i / 4000)}`, `idle${i}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const setupSeconds = (performance.now() - t0) / 1000;
  // Let the presence and the sockets' buffers settle before measuring.
  await sleep(2000);
  const after = await mem(server);
  const heap = (after.heapUsed - before.heapUsed) / conns;
  const rss = (after.rss - before.rss) / conns;
  console.log(`| connections | setup (s) | heap per connection (KiB) | RSS per connection (KiB) | server RSS (MiB) |`);
  console.log(`|---:|---:|---:|---:|---:|`);
  console.log(`| ${conns} | ${setupSeconds.toFixed(1)} | ${(heap / 1024).toFixed(2)} | ${(rss / 1024).toFixed(2)} | ${(after.rss / 1048576).toFixed(1)} |`);
  server.send({ type: 'stop' } satisfies ToServer);
  await Promise.race([new Promise((r) => server.once('exit', r)), sleep(5000)]);
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
