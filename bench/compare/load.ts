/**
 * The load generators of the comparison bench: `procs` worker processes
 * (worker.ts) holding one kind of connection between them, each
 * from source addresses of its own (127.0.0.2 upwards, never reused within
 * a run, so ephemeral ports and TIME_WAIT never run short), and the
 * figures of a send window from what they report.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { quantile } from '../harness/measure.js';
import { nextMessage } from '../harness/server-handle.js';
import type { Kind } from './clients.js';
import type { FromWorker, ToWorker, WindowReport } from './worker.js';

let nextAddress = 2;
function addresses(n: number): string[] {
  return Array.from({ length: n }, () => {
    const k = nextAddress++;
    return `127.0.${Math.floor(k / 254)}.${(k % 254) + 1}`;
  });
}

export interface PoolOptions {
  /** Connections [first, first + count) of the numbering the workers use for rooms and identities. */
  first?: number;
  procs: number;
  smallCount: number;
  devices: number;
  concurrency: number;
  /**
   * false: no round trip through every connection once all are open. The held-poll suite skips it: a webim Comet
   * client's open already waited for its login answer through its own poll, and a ping sent while that poll is held
   * takes a second socket per session that the peers' clients (whose sync does nothing) never open.
   */
  sync?: boolean;
  log: (line: string) => void;
}

export class LoadPool {
  private constructor(readonly workers: ChildProcess[]) {}

  /** Opens `count` connections of `kind`; resolves once every one is open (or failed, which throws). */
  static async open(kind: Kind, port: number, count: number, o: PoolOptions): Promise<{ pool: LoadPool; seconds: number }> {
    const t0 = Date.now();
    const procs = Math.max(1, Math.min(o.procs, count));
    // NODE_ENV=production turns off sockjs-client's debug calls, which cost per frame even when silent.
    const workers = Array.from({ length: procs }, () =>
      fork(fileURLToPath(new URL('./worker.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_ENV: 'production' } }),
    );
    const pool = new LoadPool(workers);
    const per = Math.ceil(count / procs);
    let first = o.first ?? 0;
    const progress = new Array<number>(procs).fill(0);
    const opened = workers.map((w, i) => {
      const n = Math.min(per, count - i * per);
      const msg: ToWorker = { type: 'open', kind, port, first, count: n, addresses: addresses(Math.max(1, Math.ceil(n / 4000))), smallCount: o.smallCount, devices: o.devices, concurrency: o.concurrency };
      first += n;
      w.on('message', (m: FromWorker) => {
        if (m.type !== 'progress') return;
        progress[i] = m.opened;
        const total = progress.reduce((a, b) => a + b, 0);
        if (total % 2000 < 500) o.log(`${total} ${kind} connections open after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      });
      w.send(msg);
      return nextMessage<FromWorker>(w, (m) => m.type === 'opened', `${kind} worker ${i} open`, 600_000);
    });
    try {
      let failed = 0;
      let firstError: string | undefined;
      for (const r of await Promise.all(opened)) {
        if (r.type !== 'opened') continue;
        failed += r.failed;
        firstError ??= r.firstError;
      }
      if (failed > 0) throw new Error(`${failed} of ${count} ${kind} connections failed, first: ${firstError}`);
      if (o.sync !== false) await pool.all({ type: 'sync' }, 'synced', 300_000);
    } catch (err) {
      pool.kill();
      throw err;
    }
    return { pool, seconds: (Date.now() - t0) / 1000 };
  }

  private async all(msg: ToWorker, answer: FromWorker['type'], ms: number): Promise<FromWorker[]> {
    const replies = this.workers.map((w, i) => nextMessage<FromWorker>(w, (m) => m.type === answer, `worker ${i} ${msg.type}`, ms));
    for (const w of this.workers) w.send(msg);
    return Promise.all(replies);
  }

  async pause(every: number): Promise<number> {
    const r = await this.all({ type: 'pause', every }, 'paused', 30_000);
    return r.reduce((sum, m) => sum + (m.type === 'paused' ? m.paused : 0), 0);
  }

  async resume(): Promise<void> {
    await this.all({ type: 'resume' }, 'paused', 30_000);
  }

  /** Starts counting a window's bodies; `reports` ends with every worker's report (wrapped: an async function's promise would adopt it). */
  async expect(window: number, room: 'big' | 'small', messages: number, limitMs: number): Promise<{ reports: Promise<WindowReport[]> }> {
    const dones = this.workers.map((w, i) => nextMessage<FromWorker>(w, (m) => m.type === 'done' && m.window === window, `worker ${i} window ${window}`, limitMs));
    for (const d of dones) d.catch(() => undefined);
    await this.all({ type: 'expect', window, room, messages }, 'expecting', 30_000);
    return { reports: Promise.all(dones).then((rs) => rs.filter((r): r is WindowReport => r.type === 'done')) };
  }

  collect(window: number): void {
    for (const w of this.workers) if (w.connected) w.send({ type: 'collect', window } satisfies ToWorker);
  }

  kill(): void {
    for (const w of this.workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  }
}

export interface Delivery {
  messages: number;
  expected: number;
  deliveries: number;
  /** Connections that got every message, and connections closed by the end. */
  complete: number;
  members: number;
  closed: number;
  /** Send to last receipt, per message that anybody got (ms). */
  p50: number;
  p99: number;
  max: number;
  /** From the first send to the last receipt (ms). */
  spanMs: number;
  clientCpuMs: number;
}

export function delivery(sentAt: readonly number[], reports: readonly WindowReport[]): Delivery {
  const n = sentAt.length;
  const last = new Array<number>(n).fill(-Infinity);
  let deliveries = 0;
  let members = 0;
  let complete = 0;
  let closed = 0;
  let clientCpuMs = 0;
  for (const r of reports) {
    members += r.expected;
    complete += r.complete;
    closed += r.closed;
    clientCpuMs += r.cpuMs;
    for (let i = 0; i < n; i++) {
      const c = r.counts[i] ?? 0;
      deliveries += c;
      if (c > 0) last[i] = Math.max(last[i] as number, r.last[i] as number);
    }
  }
  const lat = last.flatMap((t, i) => (Number.isFinite(t) ? [t - (sentAt[i] as number)] : [])).sort((a, b) => a - b);
  const lastReceipt = Math.max(...last);
  return {
    messages: n,
    expected: n * members,
    deliveries,
    complete,
    members,
    closed,
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    max: lat.at(-1) ?? NaN,
    spanMs: lastReceipt - (sentAt[0] ?? NaN),
    clientCpuMs,
  };
}
