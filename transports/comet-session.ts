/**
 * One Comet session (docs/protocol.md section 4): to the core it is one
 * connection, like a WebSocket; it outlives the HTTP requests that carry
 * it. Outgoing frames are numbered and kept until a poll acks them, so a
 * poll answer lost on the way loses nothing; incoming send requests are
 * handed on in the order they arrived, and a numbered one (`b`, from a
 * client that cannot read its answer: a form posted into an iframe of
 * another origin) is handed on once however often it comes, with the
 * highest number taken reported in every poll answer as `received`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, ErrorCodes } from '../src/errors.js';
import { answer, fail } from './comet-http.js';
import { reserialize, type Transport, type TransportHandler } from '../src/core/transport.js';

/** Frames answered to one poll at most; the rest wait for the next poll. */
const MAX_FRAMES_PER_POLL = 500;

interface Frame {
  seq: number;
  text: string;
}

interface HeldPoll {
  req: FastifyRequest;
  reply: FastifyReply;
  timer: NodeJS.Timeout;
}

/** What one send request brought: its messages (null: none, it failed or went away), its number, why it was refused. */
export interface SendBatch {
  messages: unknown[] | null;
  number?: number;
  refused?: ErrorCode;
}

export class CometSession implements Transport {
  readonly name = 'comet' as const;
  handler: TransportHandler | undefined;
  lastSeen = Date.now();
  ended = false;
  private frames: Frame[] = [];
  private lastSeq = 0;
  /** Highest seq that went out in a poll answer at least once. */
  private sentSeq = 0;
  private bytes = 0;
  private held: HeldPoll | undefined;
  private closing = false;
  private flushQueued = false;
  /** Send requests are numbered on arrival and their messages handed on in that order. */
  private nextTicket = 0;
  private doneTicket = 0;
  private readonly waiting = new Map<number, SendBatch>();
  /** The highest client batch number handed on, and the highest a poll answer has told. */
  private received = 0;
  private toldReceived = 0;

  constructor(
    readonly sid: string,
    readonly remoteAddress: string,
    private readonly pollTimeout: number,
    private readonly onEnd: (s: CometSession) => void,
  ) {}

  send(frame: string): void {
    if (this.ended || this.closing) return;
    this.frames.push({ seq: ++this.lastSeq, text: frame });
    this.bytes += frame.length;
    this.queueFlush();
  }

  close(): void {
    if (this.ended || this.closing) return;
    this.closing = true;
    if (this.frames.length === 0) this.end();
    else this.queueFlush();
  }

  bufferedAmount(): number {
    return this.bytes;
  }

  /** Frames sent in one tick (a login and its replay, say) leave in one poll answer. */
  private queueFlush(): void {
    if (this.flushQueued || !this.held) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      const held = this.held;
      if (held && (this.frames.length > 0 || this.received > this.toldReceived)) this.respond(held);
    });
  }

  private respond(held: HeldPoll): void {
    clearTimeout(held.timer);
    if (this.held === held) this.held = undefined;
    const out = this.frames.length > MAX_FRAMES_PER_POLL ? this.frames.slice(0, MAX_FRAMES_PER_POLL) : this.frames;
    let body = `{"seq":${this.lastSeq},`;
    if (this.received > 0) body += `"received":${this.received},`;
    body += '"frames":[';
    for (let i = 0; i < out.length; i++) {
      const f = out[i] as Frame;
      body += `${i === 0 ? '' : ','}{"seq":${f.seq},"msg":${f.text}}`;
    }
    answer(held.req, held.reply, 200, body + ']}');
    this.toldReceived = this.received;
    if (out.length > 0) this.sentSeq = Math.max(this.sentSeq, (out[out.length - 1] as Frame).seq);
    this.lastSeen = Date.now();
  }

  poll(ack: number, req: FastifyRequest, reply: FastifyReply): void {
    this.lastSeen = Date.now();
    let drop = 0;
    while (drop < this.frames.length && (this.frames[drop] as Frame).seq <= ack) {
      this.bytes -= (this.frames[drop] as Frame).text.length;
      drop++;
    }
    if (drop > 0) this.frames.splice(0, drop);
    // One held poll per session: the older one is answered at once, with no frames.
    if (this.held) this.respondEmpty(this.held);
    if (this.closing && this.frames.length === 0) {
      this.end();
      fail(req, reply, 404, 'unknown_session');
      return;
    }
    const held: HeldPoll = { req, reply, timer: setTimeout(() => this.respond(held), this.pollTimeout) };
    if (this.frames.length > 0 || this.received > this.toldReceived) {
      this.respond(held);
      return;
    }
    this.held = held;
    reply.raw.once('close', () => {
      if (this.held !== held) return;
      clearTimeout(held.timer);
      this.held = undefined;
      this.lastSeen = Date.now();
    });
  }

  private respondEmpty(held: HeldPoll): void {
    clearTimeout(held.timer);
    this.held = undefined;
    answer(held.req, held.reply, 200, `{"seq":${this.lastSeq},"frames":[]}`);
  }

  takeTicket(): number {
    return this.nextTicket++;
  }

  /** Hands a send request's messages to the core once every earlier request has been handed on. */
  settle(ticket: number, batch: SendBatch): void {
    if (ticket < this.doneTicket || this.waiting.has(ticket)) return;
    this.waiting.set(ticket, batch);
    while (this.waiting.has(this.doneTicket)) {
      const next = this.waiting.get(this.doneTicket) as SendBatch;
      this.waiting.delete(this.doneTicket);
      this.doneTicket++;
      if (next.number !== undefined) {
        if (next.number <= this.received) {
          // A repeat of a batch already handed on: the poll answer that told of it may have been lost, so tell again.
          this.toldReceived = 0;
          this.queueFlush();
          continue;
        }
        this.received = next.number;
        if (next.refused !== undefined) {
          this.send(JSON.stringify({ cmd: 'error', code: next.refused, message: ErrorCodes[next.refused].message }));
        }
        this.queueFlush();
      }
      if (!next.messages || !this.handler) continue;
      for (const m of next.messages) {
        if (this.ended) return;
        this.handler.message(reserialize(m));
      }
    }
  }

  get holdsPoll(): boolean {
    return this.held !== undefined;
  }

  /** Closing, with frames (the `bye`) that no poll has carried yet. */
  get awaitingPickup(): boolean {
    return this.closing && !this.ended && this.sentSeq < this.lastSeq;
  }

  /** Whether the session has been idle (no poll held, none for `timeout` ms). */
  idle(now: number, timeout: number): boolean {
    return this.held === undefined && now - this.lastSeen > timeout;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.held) this.respond(this.held);
    this.frames = [];
    this.bytes = 0;
    this.waiting.clear();
    this.onEnd(this);
    this.handler?.closed();
  }
}
