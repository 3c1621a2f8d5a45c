/**
 * A send window as every load generator counts it: the bench tells its
 * workers to expect a window's numbered messages, each worker notes when
 * each of its connections got each one, and reports per message, never
 * per delivery, so that the report of thousands of connections stays
 * small enough for IPC.
 */
import { cpuUsage } from 'node:process';

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
