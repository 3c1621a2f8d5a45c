/**
 * The webim server as a bench runs it: the same createServer as
 * `webim start`, with the same flags, in a child process forked with IPC
 * (and `--expose-gc`) so that the bench can ask it about itself without
 * sharing its event loop or its CPU accounting. Its RSS the bench reads
 * from /proc/<pid>/status.
 *
 *   messages in:  { type: 'mem', settle? } | { type: 'loop' } | { type: 'stop' }
 *                 | { type: 'profile-start' } | { type: 'profile-stop', file }
 *   messages out: { type: 'ready', port } | { type: 'mem', heapUsed, rss, young, sockets, timers }
 *                 | { type: 'loop', busyMs, cpuMs, wallMs } | { type: 'profile', file, error? }
 *
 * `sockets` and `timers` count the server's open TCP sockets and pending
 * timers (each held poll has one of each), so a bench can wait until the
 * server really holds every poll before it measures. `loop` answers the
 * ms its event loop was busy, the CPU ms it used (process.cpuUsage, user
 * plus system, every thread: SQLite and libuv work included) and the wall
 * ms elapsed since the previous `loop`: the server's own share of a
 * fan-out, which clients on the same cores cannot blur. The profile
 * messages record a V8 CPU profile (a .cpuprofile file for Chrome
 * DevTools) between start and stop, to see where the server's time goes.
 */
import { parseConfig } from '../../src/config.js';
import { createServer } from '../../src/server.js';
import { runMain } from './lifetime.js';
import { serveBench } from './serve-bench.js';

export type ToServer =
  /** settle: first wait (at most settleLimitMs, 40 s by default) for V8 to give back a young generation grown by the setup (serve-bench.ts). */
  | { type: 'mem'; settle?: boolean; settleLimitMs?: number }
  | { type: 'loop' }
  | { type: 'stop' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string };
export type FromServer =
  | { type: 'ready'; port: number }
  /** young: bytes V8's young generation held at the reading (settled when at most 2 MiB). */
  | { type: 'mem'; heapUsed: number; rss: number; young: number; sockets: number; timers: number }
  | { type: 'loop'; busyMs: number; cpuMs: number; wallMs: number }
  | { type: 'profile'; file: string; error?: string };

async function main(): Promise<void> {
  const server = await createServer(parseConfig(process.argv.slice(2)));
  const { port } = await server.listen();
  serveBench(port, () => server.close());
}

runMain(main, { exit: 'on-error' });
