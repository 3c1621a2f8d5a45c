/**
 * The bench side of every server process, webim's (server-child.ts) and
 * each peer's (bench/compare/peers/), so that webim and every peer are
 * measured the same way: RSS and heap after two forced collections, CPU
 * from process.cpuUsage, event-loop busy time from eventLoopUtilization,
 * and a V8 CPU profile on request. The IPC messages:
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
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Session } from 'node:inspector/promises';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { onParentMessages, toParent } from './worker.js';

export type ToServer =
  /** settle: first wait (at most settleLimitMs, 40 s by default) for V8 to give back a young generation grown by the setup (whenYoungGenSettled). */
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

function sockets(): { sockets: number; timers: number } {
  let sockets = 0;
  let timers = 0;
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === 'TCPSocketWrap') sockets++;
    else if (kind === 'Timeout') timers++;
  }
  return { sockets, timers };
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

const SETTLED_YOUNG_GEN = 2 * 1024 * 1024;
// 15 s was too short on a busy day: in one full run webim's idle readings were cut short at 17.7 and 32.0 MiB and gave
// 9.23 KiB per connection (5.68 in the next run, 5.90 the day before). Held polls had settled after 23-27 s with 40 s.
const SETTLE_LIMIT_MS = 40_000;

/** Whether a settled reading's wait ran out with the young generation (its `young`) still grown. */
export function cutShort(young: number): boolean {
  return young > SETTLED_YOUNG_GEN;
}

function youngGen(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0;
}

/**
 * Calls `then` once V8's young generation is back to its idle size, or after `limitMs`. A burst of logins grows
 * it to 25-30 MB, and only V8's memory reducer, which starts after several idle seconds, shrinks it and hands its
 * pages back; a forced gc() does neither. Read after gc() alone, RSS per held poll swung 12-22 KiB between runs of
 * one build, and a baseline read at start-up still held webim's grown young generation (17 MB) while the peers'
 * did not (2026-12-03). Polled without collecting: a forced collection would put the reducer off again.
 */
function whenYoungGenSettled(then: () => void, limitMs: number): void {
  const started = performance.now();
  const check = (): void => {
    const young = youngGen();
    if (!cutShort(young) || performance.now() - started > limitMs) {
      if (process.env.WEBIM_BENCH_TRACE_SETTLE) process.stderr.write(`young generation ${(young / 1048576).toFixed(1)} MiB\n`);
      then();
    }
    else setTimeout(check, 250);
  };
  check();
}

/** Answers the bench's questions over IPC; `close` stops the server before the process exits. */
export function serveBench(port: number, close: () => Promise<void>): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  const profiler = new Profiler();
  let since: EventLoopUtilization = performance.eventLoopUtilization();
  let cpuSince = process.cpuUsage();
  let wallSince = performance.now();
  const reply = (msg: FromServer): void => toParent(msg);
  onParentMessages<ToServer>({
    mem: (msg) => {
      const measure = (): void => {
        // Twice: the first pass may only finalize what the second frees.
        gc?.();
        gc?.();
        const { heapUsed, rss } = process.memoryUsage();
        reply({ type: 'mem', heapUsed, rss, young: youngGen(), ...sockets() });
      };
      if (msg.settle === true) whenYoungGenSettled(measure, msg.settleLimitMs ?? SETTLE_LIMIT_MS);
      else measure();
    },
    loop: () => {
      const cpu = process.cpuUsage(cpuSince);
      const now = performance.now();
      reply({ type: 'loop', busyMs: performance.eventLoopUtilization(since).active, cpuMs: (cpu.user + cpu.system) / 1000, wallMs: now - wallSince });
      since = performance.eventLoopUtilization();
      cpuSince = process.cpuUsage();
      wallSince = now;
    },
    'profile-start': () => {
      profiler.start().then(
        () => reply({ type: 'profile', file: '' }),
        (err: unknown) => reply({ type: 'profile', file: '', error: String(err) }),
      );
    },
    'profile-stop': (msg) => {
      profiler.stop(msg.file).then(
        () => reply({ type: 'profile', file: msg.file }),
        (err: unknown) => reply({ type: 'profile', file: msg.file, error: String(err) }),
      );
    },
    stop: () => {
      close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    },
  });
  reply({ type: 'ready', port });
}

/** Port 0 unless the bench passed one: `node peer.js [port]`. */
export function portArg(): number {
  const n = Number(process.argv[2] ?? '0');
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/** Serves the bench's questions once `http` listens on 127.0.0.1 (the port from portArg); `close` stops the server. */
export function listenForBench(http: Server, close: () => Promise<void>): void {
  http.listen(portArg(), '127.0.0.1', () => {
    const address = http.address();
    serveBench(typeof address === 'object' && address ? address.port : 0, close);
  });
}
