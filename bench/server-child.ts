/**
 * The webim server as a bench runs it: the same createServer as
 * `webim start`, with the same flags, in a child process forked with IPC
 * (and `--expose-gc`) so that the bench can ask it about itself without
 * sharing its event loop or its CPU accounting. Its RSS the bench reads
 * from /proc/<pid>/status.
 *
 *   messages in:  { type: 'mem' } | { type: 'loop' } | { type: 'stop' }
 *                 | { type: 'profile-start' } | { type: 'profile-stop', file }
 *   messages out: { type: 'ready', port } | { type: 'mem', heapUsed, rss, sockets, timers }
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
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { parseConfig } from '../src/config.js';
import { createServer } from '../src/server.js';

export type ToServer =
  | { type: 'mem' }
  | { type: 'loop' }
  | { type: 'stop' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string };
export type FromServer =
  | { type: 'ready'; port: number }
  | { type: 'mem'; heapUsed: number; rss: number; sockets: number; timers: number }
  | { type: 'loop'; busyMs: number; cpuMs: number; wallMs: number }
  | { type: 'profile'; file: string; error?: string };

function resources(): { sockets: number; timers: number } {
  let sockets = 0;
  let timers = 0;
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === 'TCPSocketWrap') sockets++;
    else if (kind === 'Timeout') timers++;
  }
  return { sockets, timers };
}

function reply(msg: FromServer): void {
  process.send?.(msg);
}

/** Starts and stops the V8 sampling profiler through an in-process inspector session. */
class Profiler {
  private session: Session | undefined;

  async start(): Promise<void> {
    if (this.session) return;
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    // 200 µs between samples: fine enough for sub-ms fan-out work, cheap enough not to distort it much.
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    this.session = session;
  }

  async stop(file: string): Promise<void> {
    const session = this.session;
    if (!session) throw new Error('the profiler was not started');
    this.session = undefined;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(file, JSON.stringify(profile));
  }
}

async function main(): Promise<void> {
  const server = await createServer(parseConfig(process.argv.slice(2)));
  const { port } = await server.listen();
  const gc = (globalThis as { gc?: () => void }).gc;
  const profiler = new Profiler();
  let since: EventLoopUtilization = performance.eventLoopUtilization();
  let cpuSince = process.cpuUsage();
  let wallSince = performance.now();
  process.on('message', (msg: ToServer) => {
    if (msg.type === 'mem') {
      // Twice: the first pass may only finalize what the second frees.
      gc?.();
      gc?.();
      const { heapUsed, rss } = process.memoryUsage();
      reply({ type: 'mem', heapUsed, rss, ...resources() });
    } else if (msg.type === 'loop') {
      const cpu = process.cpuUsage(cpuSince);
      const now = performance.now();
      reply({ type: 'loop', busyMs: performance.eventLoopUtilization(since).active, cpuMs: (cpu.user + cpu.system) / 1000, wallMs: now - wallSince });
      since = performance.eventLoopUtilization();
      cpuSince = process.cpuUsage();
      wallSince = now;
    } else if (msg.type === 'profile-start') {
      profiler.start().then(
        () => reply({ type: 'profile', file: '' }),
        (err: unknown) => reply({ type: 'profile', file: '', error: String(err) }),
      );
    } else if (msg.type === 'profile-stop') {
      profiler.stop(msg.file).then(
        () => reply({ type: 'profile', file: msg.file }),
        (err: unknown) => reply({ type: 'profile', file: msg.file, error: String(err) }),
      );
    } else if (msg.type === 'stop') {
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    }
  });
  // The bench went away (killed, crashed): do not outlive it.
  process.on('disconnect', () => process.exit(0));
  reply({ type: 'ready', port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
