/**
 * Server memory per idle WebSocket connection (issue 8): `--conns` guests
 * logged in over `/ws` (each a `lobby` member, so in a room), then quiet.
 * The server is bench/harness/server-child.ts in a child process with `--expose-gc`;
 * its heap (after two full GCs) and RSS are read before the first connection
 * and after the last login has settled, and the difference divided by the
 * connections. The clients are one process here, from 127.0.0.2..
 * (4,000 connections per source address).
 *
 *   npm run build && node dist/bench/idle/idle-bench.js --conns 2000
 *   node dist/bench/idle/idle-bench.js --server /other/build/dist/bench/harness/server-child.js   # another build, same measure
 *
 * `--presence-limit` is passed to the server (default 100) so that setting
 * up thousands of users costs seconds, not the O(n²) presence storm of
 * docs/protocol.md's full presence; it does not change what an idle connection
 * holds. Stops by itself within `--deadline` seconds and kills what it
 * started.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { runMain, Teardown } from '../harness/lifetime.js';
import { sleep } from '../harness/measure.js';
import { SERVER_CHILD, SERVER_NODE_ARGS, ServerChild } from '../harness/server-handle.js';
import { inLanes } from '../harness/worker.js';

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
const teardown = new Teardown();
const dataDir = teardown.tempDir('webim-idle-');
const sockets: WebSocket[] = [];
teardown.add(() => {
  for (const s of sockets) s.terminate();
});

/** Settled (serve-bench.ts): both readings wait for V8 to give back what the setup grew. */
async function mem(server: ServerChild): Promise<{ heapUsed: number; rss: number }> {
  return server.ask({ type: 'mem', settle: true }, 'mem');
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

async function main(): Promise<void> {
  const args = ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn',
    '--max-connections-per-ip', '1000000', '--rate-limit', '1000000', '--rate-burst', '1000000'];
  // The limit is a flag of this webim; a build from before it reads it from the environment and ignores it.
  const env = { ...process.env, WEBIM_PRESENCE_LIMIT: values['presence-limit'] };
  const server = await ServerChild.fork('server', values.server ?? SERVER_CHILD, args, { execArgv: SERVER_NODE_ARGS, env, forked: (c) => teardown.track(c) });
  const before = await mem(server);
  const t0 = performance.now();
  const failures = await inLanes(conns, concurrency, (i) => connect(server.port, `127.0.0.${2 + Math.floor(i / 4000)}`, `idle${i}`));
  if (failures.count > 0) throw new Error(`${failures.count} of ${conns} logins failed, first: ${failures.first}`);
  const setupSeconds = (performance.now() - t0) / 1000;
  // Let the presence and the sockets' buffers settle before measuring.
  await sleep(2000);
  const after = await mem(server);
  const heap = (after.heapUsed - before.heapUsed) / conns;
  const rss = (after.rss - before.rss) / conns;
  console.log(`| connections | setup (s) | heap per connection (KiB) | RSS per connection (KiB) | server RSS (MiB) |`);
  console.log(`|---:|---:|---:|---:|---:|`);
  console.log(`| ${conns} | ${setupSeconds.toFixed(1)} | ${(heap / 1024).toFixed(2)} | ${(rss / 1024).toFixed(2)} | ${(after.rss / 1048576).toFixed(1)} |`);
  await server.stop();
}

runMain(main, {
  teardown,
  deadline: { ms: deadlineMs, giveUp: () => process.stderr.write(`idle: not done after ${deadlineMs / 1000} s, giving up\n`) },
});
