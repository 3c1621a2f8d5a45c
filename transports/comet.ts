/**
 * The Comet long-poll transport (docs/protocol.md section 4), for browsers
 * without WebSocket: `/comet/open|poll|send|close`, by GET and POST, in
 * JSON or JSONP form. A session (comet-session.ts) outlives the HTTP
 * requests that carry it and is one connection to the core; the answers
 * take the form each kind of browser can read (comet-http.ts). Origins are
 * checked on every request, by Referer where a browser sends no Origin
 * (JSONP, old IE).
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { claimedOrigin } from '../src/common/origin.js';
import { answer, batchNumber, callbackParam, drain, fail, query } from './comet-http.js';
import { CometSession, type SendBatch } from './comet-session.js';
import type { TransportHost } from '../src/core/transport.js';

const SID = /^[A-Za-z0-9_-]{22}$/;
/** Percent-encoding makes a form body up to three times the text it carries; the limit is the text's. */
const FORM_EXPANSION = 3;

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
  // A form's field is measured after decoding (send), so that a message has the same limit in a form as in JSON.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_EXPANSION * opts.maxBody },
    (_req, body, done) => done(null, body),
  );

  /** A numbered batch refused before it reached the core: the client, which may not read this answer, hears of it in its poll. */
  const refuseBatch = (req: FastifyRequest, refused: SendBatch['refused']) => {
    const entry = tickets.get(req);
    const number = batchNumber(req);
    if (entry && number !== undefined) entry.session.settle(entry.ticket, { messages: null, number, refused });
  };

  app.setErrorHandler(async (err: Error & { code?: string; statusCode?: number }, req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      refuseBatch(req, 'too_large');
      await drain(req, 4 * opts.maxBody, 2000);
      return fail(req, reply, 413, 'too_large');
    }
    if (err.statusCode !== undefined && err.statusCode < 500) {
      refuseBatch(req, 'bad_request');
      return fail(req, reply, 400, 'bad_request');
    }
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
    const claimed = claimedOrigin(req.headers);
    const allowed = claimed === undefined || opts.originAllowed(claimed, req);
    // A refusal is readable by the refused page too (it learns nothing but that), so that it can say so and stop trying;
    // a preflight is not granted.
    if (origin !== undefined && (allowed || req.method !== 'OPTIONS')) {
      void reply.header('Access-Control-Allow-Origin', origin).header('Vary', 'Origin');
    }
    if (!allowed) return fail(req, reply, 403, 'forbidden');
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
    s.handler = opts.host.attach(s, { ip: req.ip, origin: req.headers.origin, userAgent: req.headers['user-agent'], headers: req.headers });
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
      if (Buffer.byteLength(text) > opts.maxBody) {
        refuseBatch(req, 'too_large');
        return fail(req, reply, 413, 'too_large');
      }
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text ?? '');
    } catch {
      refuseBatch(req, 'bad_json');
      return fail(req, reply, 400, 'bad_json');
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) parsed = [parsed];
    if (!Array.isArray(parsed)) {
      refuseBatch(req, 'bad_request');
      return fail(req, reply, 400, 'bad_request');
    }
    s.settle(entry.ticket, { messages: parsed, number: batchNumber(req) });
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
    if (entry) entry.session.settle(entry.ticket, { messages: null });
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
