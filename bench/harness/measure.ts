/**
 * Time and figures as every suite takes them, so that two suites' rows
 * mean the same: timestamps comparable between the bench's processes, a
 * sender paced to a schedule, quantiles of sorted samples, the integer
 * flags the suites take, and a send window's receipts.
 *
 * A window: the bench tells its workers to expect a window's numbered
 * messages, each worker notes when each of its connections got each one,
 * and reports per message, never per delivery, so that the report of
 * thousands of connections stays small enough for IPC.
 */
import { performance } from 'node:perf_hooks';
import { cpuUsage } from 'node:process';

/** Wall-clock ms with sub-ms resolution, comparable between processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `sendOne(i)` for i in 0..count-1, `rate` a second, each at its own scheduled time (not drifting with the
 * timer's lateness); resolves with the time (now()) each was sent.
 */
export async function sendPaced(count: number, rate: number, sendOne: (i: number) => void): Promise<number[]> {
  const sentAt: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait >= 1) await sleep(wait);
    sentAt.push(now());
    sendOne(i);
  }
  return sentAt;
}

/** The q-quantile of ascending samples (the nearest rank); NaN when there are none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** The integer value of flag `--name`, refused outside min..max with the flag named. */
export function intFlag(name: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}, not ${text}`);
  return n;
}

/** What every load generator takes besides its own messages: a round trip through every connection, and "report now". */
export type WindowCommand = { type: 'sync' } | { type: 'collect'; window: number };

/** What every load generator reports of a window; each adds figures of its own. */
export interface WindowTally {
  type: 'done';
  window: number;
  /** Per message (index = sequence number): connections that got it, and their earliest and latest receipt (ms, now()). */
  counts: number[];
  first: number[];
  last: number[];
  /** CPU ms this process used since it was told to expect the window. */
  cpuMs: number;
  /** Connections that had closed by the report (they explain missing deliveries). */
  closed: number;
}

/** The receipts of one window's `messages` numbered messages, as they arrive. */
export class Receipts {
  readonly counts: number[];
  // 0 until the first receipt: JSON, which IPC uses, has no Infinity.
  readonly first: number[];
  readonly last: number[];
  private readonly cpuStart: NodeJS.CpuUsage;

  constructor(
    readonly window: number,
    messages: number,
  ) {
    this.counts = new Array<number>(messages).fill(0);
    this.first = new Array<number>(messages).fill(0);
    this.last = new Array<number>(messages).fill(0);
    this.cpuStart = cpuUsage();
  }

  /** One connection got message `seq` at `at`. */
  add(seq: number, at: number): void {
    if (this.counts[seq] === 0 || at < (this.first[seq] as number)) this.first[seq] = at;
    this.counts[seq] = (this.counts[seq] as number) + 1;
    if (at > (this.last[seq] as number)) this.last[seq] = at;
  }

  /** The report's common part, its CPU taken now. */
  tally(closed: number): WindowTally {
    const cpu = cpuUsage(this.cpuStart);
    return { type: 'done', window: this.window, counts: this.counts, first: this.first, last: this.last, cpuMs: (cpu.user + cpu.system) / 1000, closed };
  }
}
