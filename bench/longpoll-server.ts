/**
 * The webim server as the long-poll bench runs it: the same createServer
 * as `webim start`, with the same flags, in a child process forked with
 * IPC (and `--expose-gc`) so that the bench can ask it for its heap after
 * a full collection. Its RSS the bench reads from /proc/<pid>/status.
 *
 *   messages in:  { type: 'mem' } | { type: 'loop' } | { type: 'stop' }
 *   messages out: { type: 'ready', port } | { type: 'mem', heapUsed, rss, sockets, timers }
 *                 | { type: 'loop', busyMs, cpuMs }
 *
 * `sockets` and `timers` count the server's open TCP sockets and pending
 * timers (each held poll has one of each), so the bench can wait until the
 * server really holds every poll before it measures. `loop` answers the
 * ms its event loop was busy (wall clock) and the CPU ms it used
 * since the previous `loop`: the server's own share of a fan-out.
 */
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { parseConfig } from '../src/config.js';
import { createServer } from '../src/server.js';

export type ToServer = { type: 'mem' } | { type: 'loop' } | { type: 'stop' };
export type FromServer =
  | { type: 'ready'; port: number }
  | { type: 'mem'; heapUsed: number; rss: number; sockets: number; timers: number }
  | { type: 'loop'; busyMs: number; cpuMs: number };

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

async function main(): Promise<void> {
  const server = await createServer(parseConfig(process.argv.slice(2)));
  const { port } = await server.listen();
  const gc = (globalThis as { gc?: () => void }).gc;
  let since: EventLoopUtilization = performance.eventLoopUtilization();
  let cpuSince = process.cpuUsage();
  process.on('message', (msg: ToServer) => {
    if (msg.type === 'mem') {
      // Twice: the first pass may only finalize what the second frees.
      gc?.();
      gc?.();
      const { heapUsed, rss } = process.memoryUsage();
      reply({ type: 'mem', heapUsed, rss, ...resources() });
    } else if (msg.type === 'loop') {
      const cpu = process.cpuUsage(cpuSince);
      reply({ type: 'loop', busyMs: performance.eventLoopUtilization(since).active, cpuMs: (cpu.user + cpu.system) / 1000 });
      since = performance.eventLoopUtilization();
      cpuSince = process.cpuUsage();
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
