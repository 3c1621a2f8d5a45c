/**
 * The servers of the comparison bench as child processes: webim through
 * bench/server-child.ts (the same createServer as `webim start`), and each
 * peer of bench/peers/. All answer the same IPC questions (memory after
 * GC, CPU and event-loop use since the last question), all run with
 * `--expose-gc`, and where `taskset` exists each server is pinned to core
 * 0 while the bench and its load generators keep to core 1.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cutShort } from './bench-ipc.js';
import type { ServerName } from './compare-clients.js';
import type { FromServer, ToServer } from './server-child.js';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

export interface Memory {
  rss: number;
  heap: number;
  /** V8's young generation at the reading: when cutShort(young), the RSS still counts garbage space the setup grew. */
  young: number;
  sockets: number;
}

/** Settled readings whose wait ran out first, for the report: their RSS differences may err either way. */
export const unsettledReadings: string[] = [];
export interface LoopUse {
  cpuMs: number;
  busyMs: number;
  wallMs: number;
}

/** Runs `taskset -cp CORE PID`; false (with the reason kept) where it cannot. */
let pinProblem: string | undefined;
function pin(pid: number, core: number): boolean {
  if (pinProblem !== undefined) return false;
  if (cpus().length < 2) {
    pinProblem = `${cpus().length} core: nothing to pin`;
    return false;
  }
  try {
    execFileSync('taskset', ['-cp', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch (err) {
    pinProblem = `taskset failed (${String(err).split('\n', 1)[0]})`;
    return false;
  }
}

/** Pins this process (and so every worker it forks later) to core 1; says what it did, for the report. */
export function pinBench(): string {
  const ok = pin(process.pid, 1);
  return ok ? 'server on core 0, bench and load generators on core 1 (taskset)' : `not pinned: ${pinProblem ?? 'unknown'}; server and clients share the cores`;
}

export function once<T>(child: ChildProcess, pred: (m: T) => boolean, what: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${what}: no answer within ${ms} ms`)), ms);
    const onMessage = (m: T): void => {
      if (pred(m)) done(undefined, m);
    };
    const onExit = (code: number | null): void => done(new Error(`${what}: the process exited with ${code}`));
    function done(err: Error | undefined, m?: T): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m as T);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Node flags of every server, webim's and each peer's alike: V8's memory reducer (see whenYoungGenSettled in
 * bench-ipc.ts) starts 1 s after the process goes idle instead of 8 s, so that settled memory readings do not wait
 * long. It runs only when the allocation rate is low: a busy window's CPU is not touched.
 */
export const SERVER_NODE_ARGS = ['--expose-gc', '--gc-memory-reducer-start-delay-ms=1000'];

const PEER_SCRIPTS: Record<Exclude<ServerName, 'webim'>, string> = {
  ws: './peers/ws-peer.js',
  'socket.io': './peers/socketio-peer.js',
  sockjs: './peers/sockjs-peer.js',
};

export class ServerProcess {
  private constructor(
    readonly name: ServerName,
    readonly child: ChildProcess,
    readonly port: number,
    private readonly dataDir: string | undefined,
  ) {}

  static async start(name: ServerName): Promise<ServerProcess> {
    let child: ChildProcess;
    let dataDir: string | undefined;
    if (name === 'webim') {
      dataDir = mkdtempSync(join(tmpdir(), 'webim-compare-'));
      // As `webim start` runs by default (SQLite store), with the per-IP and rate limits lifted for one-machine load.
      const args = ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--max-connections-per-ip', '1000000',
        '--rate-limit', '1000000', '--rate-burst', '1000000', '--poll-timeout', '55000',
        // For trying one option's cost by hand (e.g. WEBIM_BENCH_ARGS='--store memory'); the recorded runs leave it unset.
        ...(process.env.WEBIM_BENCH_ARGS ?? '').split(' ').filter((a) => a !== '')];
      child = fork(here('./server-child.js'), args, { execArgv: SERVER_NODE_ARGS, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    } else {
      child = fork(here(PEER_SCRIPTS[name]), [], { execArgv: SERVER_NODE_ARGS, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    }
    // Sending to a server that died is an 'error' event: the ask that follows fails on its own.
    child.on('error', () => undefined);
    if (child.pid !== undefined) pin(child.pid, 0);
    const ready = await once<FromServer>(child, (m) => m.type === 'ready', `${name} start`, 30_000);
    if (ready.type !== 'ready') throw new Error('unreachable');
    return new ServerProcess(name, child, ready.port, dataDir);
  }

  private async ask(msg: ToServer, answer: FromServer['type']): Promise<FromServer> {
    // Generous: an overloaded server reads the IPC message only after the fan-out queued before it.
    if (!this.child.connected) throw new Error(`${this.name} has exited`);
    const reply = once<FromServer>(this.child, (m) => m.type === answer, `${this.name} ${msg.type}`, 120_000);
    this.child.send(msg);
    return reply;
  }

  /** Memory once V8 has given back what the setup's garbage grew: every figure that is a difference of two readings takes both this way. */
  async settledMemory(limitMs?: number): Promise<Memory> {
    const t0 = Date.now();
    const m = await this.memory(true, limitMs);
    const waited = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    if (process.env.WEBIM_BENCH_TRACE_SETTLE) process.stderr.write(`${this.name}: memory settled in ${waited}\n`);
    if (cutShort(m.young)) unsettledReadings.push(`${this.name}: young generation still ${(m.young / 1048576).toFixed(1)} MiB after ${waited}`);
    return m;
  }

  async memory(settle = false, settleLimitMs?: number): Promise<Memory> {
    const m = await this.ask({ type: 'mem', settle, ...(settleLimitMs === undefined ? {} : { settleLimitMs }) }, 'mem');
    if (m.type !== 'mem') throw new Error('unreachable');
    return { rss: vmRss(this.child.pid as number), heap: m.heapUsed, young: m.young, sockets: m.sockets };
  }

  async loop(): Promise<LoopUse> {
    const m = await this.ask({ type: 'loop' }, 'loop');
    if (m.type !== 'loop') throw new Error('unreachable');
    return m;
  }

  /**
   * A V8 CPU profile of the server between start and stop: with BENCH_PROFILE_DIR set, compare-scenarios profiles each
   * fan-out window of every server, to see where webim's time goes beside its peers'.
   */
  async profile(stopInto?: string): Promise<void> {
    const msg: ToServer = stopInto === undefined ? { type: 'profile-start' } : { type: 'profile-stop', file: stopInto };
    const p = await this.ask(msg, 'profile');
    if (p.type === 'profile' && p.error !== undefined) throw new Error(`profile: ${p.error}`);
  }

  /** Waits (at most `ms`) until the server used under a tenth of a core for a second: the previous step's backlog is gone. */
  async quiet(ms: number): Promise<void> {
    const until = Date.now() + ms;
    await this.loop();
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 1000));
      const use = await this.loop();
      if (use.cpuMs < use.wallMs / 10) return;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.child.kill('SIGKILL');
          resolve();
        }, 5000);
        this.child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.child.send({ type: 'stop' } satisfies ToServer);
      await exited;
    }
    if (this.dataDir !== undefined) rmSync(this.dataDir, { recursive: true, force: true });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    if (this.dataDir !== undefined) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
