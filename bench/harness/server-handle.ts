/**
 * The bench's side of a server child (bench/harness/server-child.ts for
 * webim, bench/compare/peers/ for the others): forking it, waiting for its
 * port, asking it the IPC questions of serve-bench.ts, and stopping it.
 * Also the wait for a worker's answer, which asks the same way.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FromServer, ToServer } from './serve-bench.js';

/** webim as a bench runs it (the same createServer as `webim start`). */
export const SERVER_CHILD = fileURLToPath(new URL('./server-child.js', import.meta.url));

/**
 * Node flags of every server the settled memory readings are taken of, webim's and each peer's alike: V8's memory
 * reducer (see whenYoungGenSettled in serve-bench.ts) starts 1 s after the process goes idle instead of 8 s, so that
 * those readings do not wait long. It runs only when the allocation rate is low: a busy window's CPU is not touched.
 */
export const SERVER_NODE_ARGS = ['--expose-gc', '--gc-memory-reducer-start-delay-ms=1000'];

/** Resolves with the first message of `child` that `pred` accepts; rejects when `ms` pass first or the child exits. */
export function nextMessage<T>(child: ChildProcess, pred: (m: T) => boolean, what: string, ms: number): Promise<T> {
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

/** Resolves true once `child` has exited, or false after `ms`; listen before asking it to go. */
export function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** The resident set of process `pid` as the kernel counts it (/proc/PID/status), read from outside the process. */
export function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export type Answer<K extends FromServer['type']> = Extract<FromServer, { type: K }>;
export type LoopUse = Omit<Answer<'loop'>, 'type'>;

export interface Memory {
  /** VmRSS, read by the bench. */
  rss: number;
  heap: number;
  /** V8's young generation at the reading: when cutShort(young), the RSS still counts garbage space the setup grew. */
  young: number;
  sockets: number;
  timers: number;
}

export interface ForkOptions {
  /** Node flags; the peers' and the memory benches' servers take SERVER_NODE_ARGS. */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Runs as soon as the child exists, before it is up (the comparison pins it to a core there). */
  forked?: (child: ChildProcess) => void;
  /** How long the child may take to report its port. */
  readyMs?: number;
}

export class ServerChild {
  constructor(
    /** What error messages call it. */
    readonly name: string,
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /** Forks `script` with `args` and waits for its `ready`. */
  static async fork(name: string, script: string, args: string[], o: ForkOptions = {}): Promise<ServerChild> {
    // Unset execArgv and env are fork's defaults: this process's flags and environment.
    const child = fork(script, args, { execArgv: o.execArgv, env: o.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // Sending to a server that died is an 'error' event: the ask that follows fails on its own.
    child.on('error', () => undefined);
    o.forked?.(child);
    const ready = await nextMessage<FromServer>(child, (m) => m.type === 'ready', `${name} start`, o.readyMs ?? 30_000).catch((err: unknown) => {
      // A server that never came up must not hold its port or its CPU while the bench goes on to report the failure.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      throw err;
    });
    if (ready.type !== 'ready') throw new Error('unreachable');
    return new ServerChild(name, child, ready.port);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `msg` and resolves with the server's next answer of type `answer`. */
  async ask<K extends FromServer['type']>(msg: ToServer, answer: K): Promise<Answer<K>> {
    if (!this.child.connected) throw new Error(`${this.name} has exited`);
    // Generous: an overloaded server reads the IPC message only after the fan-out queued before it.
    const reply = nextMessage<FromServer>(this.child, (m) => m.type === answer, `${this.name} ${msg.type}`, 120_000);
    this.child.send(msg);
    return (await reply) as Answer<K>;
  }

  /** The server's memory, its RSS read from /proc; `settle`: once V8 has given back what the setup's garbage grew. */
  async memory(settle = false, settleLimitMs?: number): Promise<Memory> {
    const m = await this.ask({ type: 'mem', settle, ...(settleLimitMs === undefined ? {} : { settleLimitMs }) }, 'mem');
    return { rss: vmRss(this.child.pid as number), heap: m.heapUsed, young: m.young, sockets: m.sockets, timers: m.timers };
  }

  /** CPU ms, event-loop busy ms and wall ms since the previous call. */
  async loop(): Promise<LoopUse> {
    return this.ask({ type: 'loop' }, 'loop');
  }

  /** Asks the server to close and waits for it to exit; after `graceMs`, kills it. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    const gone = exited(this.child, graceMs);
    this.child.send({ type: 'stop' } satisfies ToServer);
    if (!(await gone)) this.child.kill('SIGKILL');
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}
