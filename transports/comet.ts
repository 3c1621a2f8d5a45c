/**
 * The Comet long-poll transport (PROTOCOL.md section 4), for browsers
 * without WebSocket: `/comet/open|poll|send|close`, by GET and POST, in
 * JSON or JSONP form. A session outlives the HTTP requests that carry it:
 * its outgoing frames are numbered and kept until a poll acks them, so a
 * poll answer lost on the way loses nothing. To the core a session is one
 * connection, like a WebSocket.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { reserialize, type Transport, type TransportHandler, type TransportHost } from './transport.js';

const CALLBACK = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}(\.[A-Za-z_$][A-Za-z0-9_$]{0,63}){0,3}$/;
const SID = /^[A-Za-z0-9_-]{22}$/;
/** Frames answered to one poll at most; the rest wait for the next poll. */
const MAX_FRAMES_PER_POLL = 500;

export interface CometOptions {
  host: TransportHost;
  pollTimeout: number;
  /** ms without a poll before a session ends. */
  sessionTimeout: number;
  maxSessions: number;
  maxBody: number;
  /** ms a shutdown waits for sessions to take their `bye`. */
  closeGrace: number;
  originAllowed(origin: string, req: FastifyRequest): boolean;
  /** Called once with counts the server's `/metrics` reads at scrape time (the sessions themselves stay private). */
  expose?(counts: CometCounts): void;
}

export interface CometCounts {
  /** Polls held open now, waiting for frames. */
  heldPolls(): number;
}

interface Frame {
  seq: number;
  text: string;
}

interface HeldPoll {
  req: FastifyRequest;
  reply: FastifyReply;
  timer: NodeJS.Timeout;
}

function one(v: unknown): string | undefined {
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : undefined;
  return typeof v === 'string' ? v : undefined;
}

function query(req: FastifyRequest, name: string): string | undefined {
  return one((req.query as Record<string, unknown>)[name]);
}

/** A callback given twice is no callback name at all: refused rather than guessed. */
function callbackParam(req: FastifyRequest): { value?: string; bad: boolean } {
  const v = (req.query as Record<string, unknown>).callback;
  if (v === undefined) return { bad: false };
  if (typeof v !== 'string' || !CALLBACK.test(v)) return { bad: true };
  return { value: v, bad: false };
}

/** JSON may hold U+2028 and U+2029 raw, but a script before ES2019 reads them as line ends. */
function scriptSafe(json: string): string {
  return json.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Sends a JSON answer, or the JSONP script carrying it (always 200: a script tag cannot read a status). */
function answer(req: FastifyRequest, reply: FastifyReply, status: number, json: string): void {
  if (reply.sent) return;
  const callback = callbackParam(req).value;
  if (callback !== undefined) {
    void reply
      .code(200)
      .type('application/javascript; charset=utf-8')
      .header('X-Content-Type-Options', 'nosniff')
      .send(`/**/${callback}(${scriptSafe(json)});`);
  } else {
    void reply.code(status).type('application/json; charset=utf-8').send(json);
  }
}

function fail(req: FastifyRequest, reply: FastifyReply, status: number, error: string): void {
  answer(req, reply, status, JSON.stringify({ error }));
}

/**
 * Reads and drops what a refused client is still sending, within bounds, so
 * that a proxy in front sees a whole exchange and relays our 413 instead of
 * turning a reset connection into a 502.
 */
function drain(req: FastifyRequest, maxBytes: number, maxMs: number): Promise<void> {
  const raw = req.raw;
  if (raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', done);
      raw.off('close', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) done();
    };
    const timer = setTimeout(done, maxMs);
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('close', done);
    raw.resume();
  });
}

class CometSession implements Transport {
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
  private readonly waiting = new Map<number, unknown[] | null>();

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
      if (held && this.frames.length > 0) this.respond(held);
    });
  }

  private respond(held: HeldPoll): void {
    clearTimeout(held.timer);
    if (this.held === held) this.held = undefined;
    const out = this.frames.length > MAX_FRAMES_PER_POLL ? this.frames.slice(0, MAX_FRAMES_PER_POLL) : this.frames;
    let body = `{"seq":${this.lastSeq},"frames":[`;
    for (let i = 0; i < out.length; i++) {
      const f = out[i] as Frame;
      body += `${i === 0 ? '' : ','}{"seq":${f.seq},"msg":${f.text}}`;
    }
    answer(held.req, held.reply, 200, body + ']}');
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
    // One held poll per session: the older one is answered at once, empty.
    if (this.held) this.respondEmpty(this.held);
    if (this.closing && this.frames.length === 0) {
      this.end();
      fail(req, reply, 404, 'unknown_session');
      return;
    }
    const held: HeldPoll = { req, reply, timer: setTimeout(() => this.respond(held), this.pollTimeout) };
    if (this.frames.length > 0) {
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
  settle(ticket: number, messages: unknown[] | null): void {
    if (ticket < this.doneTicket || this.waiting.has(ticket)) return;
    this.waiting.set(ticket, messages);
    while (this.waiting.has(this.doneTicket)) {
      const batch = this.waiting.get(this.doneTicket);
      this.waiting.delete(this.doneTicket);
      this.doneTicket++;
      if (!batch || !this.handler) continue;
      for (const m of batch) {
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

/** Registered with a prefix, in its own encapsulated scope: its body parsing and errors are its own. */
export default async function cometTransport(app: FastifyInstance, opts: CometOptions): Promise<void> {
  const sessions = new LRUCache<string, CometSession>({
    max: opts.maxSessions,
    // Beyond the cap the least recently used session ends, as a closed connection would.
    dispose: (session, _sid, reason) => {
      if (reason === 'evict') session.end();
    },
  });
  const tickets = new WeakMap<FastifyRequest, { session: CometSession; ticket: number }>();

  const sweep = setInterval(() => {
    const now = Date.now();
    const idle: CometSession[] = [];
    for (const s of sessions.values()) if (s.idle(now, opts.sessionTimeout)) idle.push(s);
    for (const s of idle) s.end();
  }, Math.max(50, Math.min(1000, Math.floor(opts.sessionTimeout / 4))));
  sweep.unref();
  opts.expose?.({
    // A walk over the sessions, like the sweep's each second: a scrape every few seconds costs no more.
    heldPolls: () => {
      let n = 0;
      for (const s of sessions.values()) if (s.holdsPoll) n++;
      return n;
    },
  });

  app.addHook('onClose', async () => {
    clearInterval(sweep);
  });
  // On shutdown the core has queued a `bye` in every session: give clients between two polls
  // up to closeGrace to come and take it, then end whatever is left.
  app.addHook('preClose', async () => {
    const deadline = Date.now() + opts.closeGrace;
    const waiting = () => [...sessions.values()].some((s) => s.awaitingPickup);
    while (waiting() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of [...sessions.values()]) s.end();
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: opts.maxBody }, (_req, body, done) => done(null, body));

  app.setErrorHandler(async (err: Error & { code?: string; statusCode?: number }, req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      await drain(req, 4 * opts.maxBody, 2000);
      return fail(req, reply, 413, 'too_large');
    }
    if (err.statusCode !== undefined && err.statusCode < 500) return fail(req, reply, 400, 'bad_request');
    req.log.error({ err }, 'comet request failed');
    return fail(req, reply, 500, 'internal');
  });

  app.addHook('onRequest', async (req, reply) => {
    void reply.headers({ 'Cache-Control': 'no-store, no-cache, must-revalidate', Pragma: 'no-cache', Expires: '0' });
    if (callbackParam(req).bad) {
      // No script for a bad callback: answered as plain JSON whatever was asked.
      return reply.code(400).type('application/json; charset=utf-8').send({ error: 'bad_request' });
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!opts.originAllowed(origin, req)) return fail(req, reply, 403, 'forbidden');
      void reply.header('Access-Control-Allow-Origin', origin).header('Vary', 'Origin');
    }
    return undefined;
  });

  app.options('/*', async (_req, reply) => {
    return reply
      .code(204)
      .header('Access-Control-Allow-Methods', 'GET, POST, OPTIONS')
      .header('Access-Control-Allow-Headers', 'Content-Type')
      .header('Access-Control-Max-Age', '600')
      .send();
  });

  const session = (req: FastifyRequest, reply: FastifyReply): CometSession | undefined => {
    const sid = query(req, 'sid');
    const s = sid !== undefined && SID.test(sid) ? sessions.get(sid) : undefined;
    if (!s || s.ended) fail(req, reply, 404, 'unknown_session');
    return s && !s.ended ? s : undefined;
  };

  const open = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!opts.host.admits(req.ip)) return fail(req, reply, 429, 'rate_limited');
    const sid = randomBytes(16).toString('base64url');
    const s = new CometSession(sid, req.ip, opts.pollTimeout, (ended) => sessions.delete(ended.sid));
    sessions.set(sid, s);
    s.handler = opts.host.attach(s, { ip: req.ip, origin: req.headers.origin, userAgent: req.headers['user-agent'] });
    return answer(req, reply, 200, JSON.stringify({ sid, timeout: opts.pollTimeout }));
  };

  // Not async, and it returns nothing: an async handler's promise would adopt the unsent reply as a thenable, and
  // fastify's reply.then keeps a stream-finished watcher (eight closures and a promise) for as long as the poll is held.
  const poll = (req: FastifyRequest, reply: FastifyReply): void => {
    const s = session(req, reply);
    if (!s) return;
    const raw = query(req, 'ack') ?? '0';
    if (!/^\d{1,15}$/.test(raw)) return fail(req, reply, 400, 'bad_request');
    s.poll(Number(raw), req, reply);
  };

  const send = async (req: FastifyRequest, reply: FastifyReply) => {
    const entry = tickets.get(req);
    const s = session(req, reply);
    if (!s || !entry) return reply;
    let text = req.method === 'GET' ? query(req, 'd') : typeof req.body === 'string' ? req.body : '';
    if (req.method !== 'GET' && /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')) {
      text = new URLSearchParams(text ?? '').get('d') ?? '';
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text ?? '');
    } catch {
      return fail(req, reply, 400, 'bad_json');
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) parsed = [parsed];
    if (!Array.isArray(parsed)) return fail(req, reply, 400, 'bad_request');
    s.settle(entry.ticket, parsed);
    return answer(req, reply, 200, '{"ok":true}');
  };

  const close = async (req: FastifyRequest, reply: FastifyReply) => {
    const s = session(req, reply);
    if (!s) return reply;
    s.end();
    return answer(req, reply, 200, '{"ok":true}');
  };

  const settleOf = async (req: FastifyRequest) => {
    const entry = tickets.get(req);
    if (entry) entry.session.settle(entry.ticket, null);
  };
  const sendRoute = {
    // The ticket is taken when the request arrives, before its body is read: that is the order the client sent in.
    onRequest: async (req: FastifyRequest) => {
      const sid = query(req, 'sid');
      const s = sid !== undefined ? sessions.get(sid) : undefined;
      if (s && !s.ended) tickets.set(req, { session: s, ticket: s.takeTicket() });
    },
    onResponse: settleOf,
    onRequestAbort: settleOf,
  };

  for (const method of ['GET', 'POST'] as const) {
    // No automatic HEAD routes: a HEAD must not open or close a session.
    app.route({ method, url: '/open', handler: open, exposeHeadRoute: false });
    app.route({ method, url: '/poll', handler: poll, exposeHeadRoute: false });
    app.route({ method, url: '/send', handler: send, exposeHeadRoute: false, ...sendRoute });
    app.route({ method, url: '/close', handler: close, exposeHeadRoute: false });
  }
}
