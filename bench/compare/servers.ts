/**
 * The servers of the comparison bench as child processes: webim through
 * bench/harness/server-child.ts (the same createServer as `webim start`),
 * and each peer of peers/. All answer the same IPC questions (memory after
 * GC, CPU and event-loop use since the last question), all run with
 * `--expose-gc`, and where `taskset` exists each server is pinned to core
 * 0 while the bench and its load generators keep to core 1.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Teardown } from '../harness/lifetime.js';
import { cutShort } from '../harness/serve-bench.js';
import { type Memory, SERVER_CHILD, SERVER_NODE_ARGS, ServerChild } from '../harness/server-handle.js';
import type { ServerName } from './clients.js';

/** Settled readings whose wait ran out first, for the report: their RSS differences may err either way. */
export const unsettledReadings: string[] = [];

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

const PEER_SCRIPTS: Record<Exclude<ServerName, 'webim'>, string> = {
  ws: './peers/ws-peer.js',
  'socket.io': './peers/socketio-peer.js',
  sockjs: './peers/sockjs-peer.js',
};

export class ServerProcess extends ServerChild {
  private constructor(
    override readonly name: ServerName,
    server: ServerChild,
    /** webim's data directory, removed when it stops. */
    private readonly scratch: Teardown,
  ) {
    super(name, server.child, server.port);
  }

  static async start(name: ServerName): Promise<ServerProcess> {
    const scratch = new Teardown();
    let script: string;
    let args: string[] = [];
    if (name === 'webim') {
      // As `webim start` runs by default (SQLite store), with the per-IP and rate limits lifted for one-machine load.
      script = SERVER_CHILD;
      args = ['--host', '127.0.0.1', '--port', '0', '--data-dir', scratch.tempDir('webim-compare-'), '--log-level', 'warn', '--max-connections-per-ip', '1000000',
        '--rate-limit', '1000000', '--rate-burst', '1000000', '--poll-timeout', '55000',
        // For trying one option's cost by hand (e.g. WEBIM_BENCH_ARGS='--store memory'); the recorded runs leave it unset.
        ...(process.env.WEBIM_BENCH_ARGS ?? '').split(' ').filter((a) => a !== '')];
    } else {
      script = fileURLToPath(new URL(PEER_SCRIPTS[name], import.meta.url));
    }
    const forked = (child: { pid?: number | undefined }): void => {
      if (child.pid !== undefined) pin(child.pid, 0);
    };
    try {
      const server = await ServerChild.fork(name, script, args, { execArgv: SERVER_NODE_ARGS, forked });
      return new ServerProcess(name, server, scratch);
    } catch (err) {
      scratch.run();
      throw err;
    }
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

  /**
   * A V8 CPU profile of the server between start and stop: with BENCH_PROFILE_DIR set, scenarios.ts profiles each
   * fan-out window of every server, to see where webim's time goes beside its peers'.
   */
  async profile(stopInto?: string): Promise<void> {
    const p = await this.ask(stopInto === undefined ? { type: 'profile-start' } : { type: 'profile-stop', file: stopInto }, 'profile');
    if (p.error !== undefined) throw new Error(`profile: ${p.error}`);
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

  override async stop(): Promise<void> {
    await super.stop();
    this.scratch.run();
  }

  override kill(): void {
    super.kill();
    this.scratch.run();
  }
}
