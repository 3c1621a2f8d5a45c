/**
 * Offset order per channel for a node that shares channels with others.
 * Two nodes writing one room take offsets from the shared store, so this
 * node may hear of offset 7 (over the bus) before 6 (its own commit, or a
 * publish still on its way). Messages go to local connections strictly in
 * offset order: a message after a gap waits briefly for the gap to close,
 * and is then filled from the store (`since`) rather than shown out of
 * order or lost. A message at or below the last offset delivered is a
 * repeat (a fill raced the live copy) and is dropped.
 *
 * A channel seen for the first time starts at the offset before its first
 * message, unless the hub seeded it earlier (rooms at start, a login's
 * replay, a join's history), which is what makes a gap on the very first
 * message visible too.
 *
 * A channel no connection of this node follows any more (a private
 * conversation whose people are offline here, a deleted room) is
 * forgotten once it is idle, and one it does not know and nobody follows
 * gets no state at all: either way it is exactly a channel never seen,
 * which the seeding above already handles. Without this every node kept a
 * state for every private conversation of the whole cluster.
 */
import type { Log } from '../log.js';
import type { HistoryStore } from '../store/store.js';

/** How many messages one fill reads; a longer gap is filled in rounds. */
const FILL_LIMIT = 500;

export interface SequencerOptions {
  store: Pick<HistoryStore, 'since'>;
  log: Log;
  /** Delivers one frame to this node's connections, in order. */
  deliver(channel: string, offset: number, frame: string): void;
  /** ms a gap may stay open before it is filled from the store. */
  gapWait: number;
  /** ms after which a gap the store cannot fill either is skipped (a message that was never committed). */
  giveUp: number;
  /** Whether a connection of this node follows the channel; one that is not followed is forgotten when idle. */
  follows(channel: string): boolean;
  /** ms between sweeps for channels to forget (default 60 s). */
  sweepEvery?: number;
}

interface ChannelState {
  last: number;
  pending: Map<number, string>;
  timer: NodeJS.Timeout | undefined;
  /** When the current gap opened (0: none). */
  gapSince: number;
  filling: boolean;
  /** A fill was asked for while one ran: run another after it. */
  again: boolean;
}

export class Sequencer {
  private readonly channels = new Map<string, ChannelState>();
  private closed = false;
  private readonly sweeper: NodeJS.Timeout;
  /** Messages filled from the store because their live copy was late or lost (for tests and logs). */
  filled = 0;

  constructor(private readonly opts: SequencerOptions) {
    this.sweeper = setInterval(() => this.sweep(), opts.sweepEvery ?? 60_000);
    this.sweeper.unref();
  }

  /** Forgets the idle channels nobody here follows; returns how many. */
  sweep(): number {
    let forgotten = 0;
    for (const [channel, st] of this.channels) {
      if (st.pending.size > 0 || st.timer || st.filling || this.opts.follows(channel)) continue;
      this.channels.delete(channel);
      forgotten++;
    }
    return forgotten;
  }

  private state(channel: string, last: number): ChannelState {
    let st = this.channels.get(channel);
    if (!st) {
      st = { last, pending: new Map(), timer: undefined, gapSince: 0, filling: false, again: false };
      this.channels.set(channel, st);
    }
    return st;
  }

  /** The last offset delivered on a channel, if this node follows it. */
  last(channel: string): number | undefined {
    return this.channels.get(channel)?.last;
  }

  /** How many channels this node keeps in order now (the `webim_ordered_channels` gauge). */
  get size(): number {
    return this.channels.size;
  }

  tracked(): string[] {
    return [...this.channels.keys()];
  }

  /** Sets where a channel starts, unless it is already followed. */
  seed(channel: string, last: number): void {
    this.state(channel, last);
  }

  push(channel: string, offset: number, frame: string): void {
    // Nobody here would get it, and a state made for it would only wait for the next sweep.
    const st = this.channels.get(channel) ?? (this.opts.follows(channel) ? this.state(channel, offset - 1) : undefined);
    if (!st) return;
    if (offset <= st.last || st.pending.has(offset)) return;
    if (offset === st.last + 1) {
      this.emit(channel, st, offset, frame);
      this.drain(channel, st);
      return;
    }
    st.pending.set(offset, frame);
    if (st.gapSince === 0) st.gapSince = Date.now();
    this.schedule(channel, st, this.opts.gapWait);
  }

  /** Reads what the store has beyond the last delivered offset now (reconnect, a `heads` notice). */
  catchUp(channel: string, after?: number): void {
    if (after === undefined && !this.channels.has(channel)) return;
    const st = this.state(channel, after ?? 0);
    void this.fill(channel, st);
  }

  private emit(channel: string, st: ChannelState, offset: number, frame: string): void {
    st.last = offset;
    st.pending.delete(offset);
    this.opts.deliver(channel, offset, frame);
  }

  private drain(channel: string, st: ChannelState): void {
    for (let next = st.pending.get(st.last + 1); next !== undefined; next = st.pending.get(st.last + 1)) {
      this.emit(channel, st, st.last + 1, next);
    }
    if (st.pending.size === 0) {
      st.gapSince = 0;
      if (st.timer) clearTimeout(st.timer);
      st.timer = undefined;
    }
  }

  private schedule(channel: string, st: ChannelState, ms: number): void {
    if (st.timer || this.closed) return;
    st.timer = setTimeout(() => {
      st.timer = undefined;
      void this.fill(channel, st);
    }, ms);
    st.timer.unref();
  }

  private async fill(channel: string, st: ChannelState): Promise<void> {
    if (this.closed) return;
    if (st.filling) {
      st.again = true;
      return;
    }
    st.filling = true;
    try {
      for (;;) {
        const page = await this.opts.store.since(channel, st.last, FILL_LIMIT);
        const first = page.messages[0];
        if (!page.complete && first !== undefined && first.offset > st.last + 1) {
          this.opts.log.warn({ channel, from: st.last + 1, to: first.offset - 1 }, 'gap too long to fill; skipped');
          st.last = first.offset - 1;
        }
        let progressed = false;
        for (const m of page.messages) {
          if (m.offset <= st.last) continue;
          if (m.offset !== st.last + 1) break;
          const frame = st.pending.get(m.offset) ?? JSON.stringify({ cmd: 'message', ...m });
          if (!st.pending.has(m.offset)) this.filled++;
          this.emit(channel, st, m.offset, frame);
          progressed = true;
        }
        this.drain(channel, st);
        if (!progressed || page.complete) break;
      }
    } catch (err) {
      this.opts.log.warn({ err, channel }, 'could not fill a gap from the store; retrying');
    } finally {
      st.filling = false;
    }
    if (st.again) {
      st.again = false;
      void this.fill(channel, st);
      return;
    }
    if (st.pending.size === 0) return;
    if (Date.now() - st.gapSince > this.opts.giveUp) {
      const lowest = Math.min(...st.pending.keys());
      this.opts.log.warn({ channel, from: st.last + 1, to: lowest - 1 }, 'gap the store cannot fill; skipped');
      st.last = lowest - 1;
      this.drain(channel, st);
    }
    if (st.pending.size > 0) this.schedule(channel, st, this.opts.gapWait);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const st of this.channels.values()) if (st.timer) clearTimeout(st.timer);
  }
}
