/**
 * The 1:1 path alone, for webim and each peer: two users in a room of
 * their own, one sends a ping every 10 ms and the other answers each at
 * once (the round trip that runs beside every fan-out window of
 * compare-bench), for `--seconds`, `--runs` times on a fresh server each.
 * Prints the server's CPU per message (process.cpuUsage over the window,
 * divided by pings plus answers) and the round trip, so that what one
 * message costs webim (parse, validate, rate check, store, ack, deliver
 * to both members) can be set beside a bare relay's cost.
 *
 *   npm run build && node dist/bench/compare/pair-bench.js [--servers webim,ws] [--seconds 5] [--runs 3] [--profile DIR]
 *
 * Servers start as in compare-bench (webim with its SQLite store); the
 * run stops by itself (deadline below).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runMain } from '../harness/lifetime.js';
import { sleep } from '../harness/measure.js';
import { openConn, type ServerName } from './clients.js';
import { startPings, WS_KIND } from './scenarios.js';
import { ServerProcess } from './servers.js';

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: 'webim,ws' },
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    profile: { type: 'string' },
  },
});
const servers = (values.servers ?? '').split(',').filter((s): s is ServerName => ['ws', 'webim', 'socket.io', 'sockjs'].includes(s));
const seconds = Number(values.seconds);
const runs = Number(values.runs);

interface Row {
  server: ServerName;
  messages: number;
  cpuMs: number;
  p50: number;
  p99: number;
}

async function once(server: ServerName): Promise<Row> {
  const srv = await ServerProcess.start(server);
  try {
    const a = await openConn(WS_KIND[server], { port: srv.port, localAddress: '127.0.0.1', name: 'pa' });
    const b = await openConn(WS_KIND[server], { port: srv.port, localAddress: '127.0.0.1', name: 'pb' });
    for (const c of [a, b]) {
      if (server === 'webim') await c.leave('lobby');
      await c.join('pair');
    }
    await srv.quiet(5000);
    if (values.profile !== undefined) await srv.profile();
    await srv.loop();
    const stop = startPings(a, b);
    await sleep(seconds * 1000);
    // Long enough for the last answers to come back; counted answers are what the CPU paid for.
    await sleep(500);
    const rtt = stop();
    const use = await srv.loop();
    if (values.profile !== undefined) await srv.profile(join(values.profile, `pair-${server}.cpuprofile`));
    a.close();
    b.close();
    return { server, messages: 2 * rtt.samples + rtt.lost, cpuMs: use.cpuMs, p50: rtt.p50, p99: rtt.p99 };
  } finally {
    await srv.stop();
  }
}

async function main(): Promise<void> {
  console.log('| server | run | messages | server CPU (ms) | CPU per message (µs) | round trip p50 / p99 (ms) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const server of servers) {
    for (let run = 1; run <= runs; run++) {
      const r = await once(server);
      const per = (r.cpuMs * 1000) / Math.max(1, r.messages);
      console.log(`| ${server} | ${run} | ${r.messages} | ${r.cpuMs.toFixed(0)} | ${per.toFixed(0)} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} |`);
    }
  }
}

runMain(main, {
  deadline: { ms: (servers.length * runs * (seconds + 30) + 60) * 1000, giveUp: () => process.stderr.write('pair-bench: not done in time, giving up\n') },
  exit: 'always',
});
