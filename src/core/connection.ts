/**
 * One client connection as the core sees it, whatever transport carries it:
 * its identity once logged in, its rate limit, its in-order command queue,
 * its heartbeat state, and the frames held back while a login replays.
 */
import { OutFrame, type Transport, type TransportHandler } from './transport.js';
import { ByeCodes, type ByeCode, type ErrorCode, ErrorCodes } from '../errors.js';
import type { Log } from '../log.js';
import type { OnlineUser } from './online.js';
import { TokenBucket } from './rate-limit.js';
import type { ChatStats } from './stats.js';

export interface ConnectionOwner {
  receive(conn: Connection, data: string): void;
  detach(conn: Connection): void;
  readonly sendBufferLimit: number;
  readonly log: Log;
  readonly stats: ChatStats;
}

interface Held {
  frame: OutFrame;
  channel?: string;
  offset?: number;
}

let nextId = 1;

export class Connection implements TransportHandler {
  readonly id = nextId++;
  user: OnlineUser | undefined;
  /** Set while `login` runs, so a second login on the same connection is refused. */
  loggingIn = false;
  /** Raw messages waiting for an earlier asynchronous command to finish; null when idle. */
  backlog: string[] | null = null;
  /** Frames held while a login replays history; null when frames go straight out. */
  held: Held[] | null = null;
  /** Request headers the login hook is shown (`--hook-forward-headers`); undefined when that hook is off. */
  forwarded: Record<string, string> | undefined = undefined;
  /** Consecutive messages refused by the rate limit. */
  strikes = 0;
  lastPingAt: number;
  awaitingPongSince = 0;
  private open = true;
  readonly bucket: TokenBucket;

  constructor(
    readonly transport: Transport,
    readonly ip: string,
    private readonly owner: ConnectionOwner,
    rate: number,
    burst: number,
  ) {
    const now = Date.now();
    this.lastPingAt = now;
    this.bucket = new TokenBucket(rate, burst, now);
  }

  get isOpen(): boolean {
    return this.open;
  }

  message(data: string): void {
    if (!this.open) return;
    this.awaitingPongSince = 0;
    this.owner.receive(this, data);
  }

  pong(): void {
    this.awaitingPongSince = 0;
  }

  closed(): void {
    if (!this.open) return;
    this.open = false;
    this.backlog = null;
    this.held = null;
    this.owner.detach(this);
  }

  /** Sends a serialized frame (a string of its own, or one frame shared by a fan-out), or holds it while a login replays. */
  send(text: string | OutFrame, channel?: string, offset?: number): void {
    if (!this.open) return;
    const frame = typeof text === 'string' ? new OutFrame(text) : text;
    if (this.held) {
      this.held.push({ frame, channel, offset });
      return;
    }
    if (this.transport.sendFrame) this.transport.sendFrame(frame);
    else this.transport.send(frame.text);
    this.owner.stats.framesOut++;
    if (this.transport.bufferedAmount() > this.owner.sendBufferLimit) this.bye('slow_consumer');
  }

  sendObject(obj: object): void {
    this.send(JSON.stringify(obj));
  }

  error(code: ErrorCode, message?: string, ref?: string): void {
    const reply: Record<string, string> = { cmd: 'error', code, message: message ?? ErrorCodes[code].message };
    if (ref !== undefined) reply.ref = ref;
    // Counted here, the one place the core answers with an `error` frame (webim_errors_total).
    this.owner.stats.error(code);
    this.sendObject(reply);
  }

  /**
   * Writes `first` (a `login` or `joined` answer), then the frames held
   * meanwhile, in order. A held message of a channel the answer already
   * covered up to `covered[channel]` is dropped: the client has it.
   */
  release(first: readonly string[], covered: ReadonlyMap<string, number>): void {
    const held = this.held;
    this.held = null;
    for (const frame of first) this.send(frame);
    if (!held) return;
    for (const h of held) {
      if (h.channel !== undefined && h.offset !== undefined && h.offset <= (covered.get(h.channel) ?? 0)) continue;
      this.send(h.frame);
    }
  }

  /** Says why, then closes. The `bye` is written straight out, past any hold. */
  bye(code: ByeCode, reason?: string): void {
    if (!this.open) return;
    const { reconnect, reason: text, close } = ByeCodes[code];
    this.held = null;
    try {
      this.transport.send(JSON.stringify({ cmd: 'bye', code, reason: reason ?? text, reconnect }));
      this.owner.stats.framesOut++;
      this.transport.close(close, code);
    } catch (err) {
      // A transport that fails to close must not take the delivery loop (or the shutdown of everyone else) with it.
      this.owner.log.warn({ err, code }, 'transport failed to close');
    }
    // A transport may report the close later (after its handshake); the core forgets the connection now.
    this.closed();
  }
}
