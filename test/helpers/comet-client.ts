/**
 * The Comet long-poll implementation of ChatClient (docs/protocol.md section 4),
 * on Node's global fetch, in the two forms a browser uses:
 *
 * - `json`: XHR style. open, send and close are POSTs (send with an
 *   `application/json` body), poll is a GET with a cache-busting `_`.
 * - `jsonp`: script-tag style. Every request is a GET with `callback`
 *   (send carries the JSON array in the query field `d`), and every answer
 *   is parsed strictly (the empty comment `/**` `/`, the callback name,
 *   `(`, JSON, `);` and nothing else) with its headers checked.
 *
 * A poll loop acks the highest `seq` seen, pushes each new frame's `msg` into
 * the Inbox and skips frames it already has. Sends go out one request at a
 * time, in order, each carrying `[msg]`.
 *
 * Anything the server answers against the protocol (wrong status, content
 * type, missing `no-store`, a malformed JSONP wrapper or poll body) ends the
 * client and pushes `{ cmd: 'client_error', error }` into the inbox, so a test
 * waiting on `next` fails and prints it; `protocolErrors` lists them too.
 */
import { type ChatClient, type Connect, Inbox, type Msg, type Predicate } from './client.js';

export type CometForm = 'json' | 'jsonp';

export interface CometClient extends ChatClient {
  readonly sid: string;
  /** Protocol violations this client met (see the file comment). */
  readonly protocolErrors: string[];
}

/** A reply that breaks docs/protocol.md section 4. */
export class CometProtocolError extends Error {
  override name = 'CometProtocolError';
}

let counter = 0;
/** A fresh JSONP callback name: dotted, as jQuery-style loaders use. */
export function callbackName(): string {
  return `webim.cb.c${++counter}`;
}

/** Strictly unwraps a JSONP answer for `callback`: empty comment, NAME, `(JSON);`, nothing else. */
export function parseJsonp(text: string, callback: string): unknown {
  const head = `/**/${callback}(`;
  if (!text.startsWith(head) || !text.endsWith(');')) {
    throw new CometProtocolError(`not a JSONP answer for ${callback}: ${text.slice(0, 120)}`);
  }
  return JSON.parse(text.slice(head.length, -2)) as unknown;
}

export interface CometReply {
  status: number;
  /** The JSON value the server answered (unwrapped from JSONP). */
  body: Record<string, unknown>;
}

/** Checks the headers every Comet answer must have, then the form's own, and returns the JSON value. */
export function readReply(res: Response, text: string, callback?: string): Record<string, unknown> {
  const type = res.headers.get('content-type') ?? '';
  if (!/\bno-store\b/.test(res.headers.get('cache-control') ?? '')) {
    throw new CometProtocolError(`${res.url}: Cache-Control is "${res.headers.get('cache-control')}", not no-store`);
  }
  let value: unknown;
  if (callback !== undefined) {
    if (res.status !== 200) throw new CometProtocolError(`${res.url}: JSONP answered HTTP ${res.status}`);
    if (!type.startsWith('application/javascript')) throw new CometProtocolError(`${res.url}: JSONP content type ${type}`);
    if (res.headers.get('x-content-type-options') !== 'nosniff') throw new CometProtocolError(`${res.url}: JSONP without nosniff`);
    value = parseJsonp(text, callback);
  } else {
    if (!type.startsWith('application/json')) throw new CometProtocolError(`${res.url}: content type ${type}`);
    value = JSON.parse(text) as unknown;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CometProtocolError(`${res.url}: answer is not an object: ${text.slice(0, 120)}`);
  }
  return value as Record<string, unknown>;
}

/** The HTTP status a JSON-form error answer must have (docs/protocol.md section 4). */
const ERROR_STATUS: Record<string, number> = { unknown_session: 404, bad_json: 400, too_large: 413, forbidden: 403 };

interface Frame {
  seq: number;
  msg: Msg;
}

function framesOf(body: Record<string, unknown>): Frame[] {
  const { seq, frames } = body;
  if (typeof seq !== 'number' || !Array.isArray(frames)) throw new CometProtocolError(`bad poll answer ${JSON.stringify(body).slice(0, 200)}`);
  let last = 0;
  for (const f of frames as Frame[]) {
    const ok = typeof f === 'object' && f !== null && Number.isInteger(f.seq) && typeof f.msg?.cmd === 'string';
    if (!ok || f.seq <= last || f.seq > seq) throw new CometProtocolError(`bad frame ${JSON.stringify(f).slice(0, 200)} (seq ${seq})`);
    last = f.seq;
  }
  return frames as Frame[];
}

export function cometConnect(baseUrl: string, form: CometForm): Connect {
  return async (opts = {}) => {
    const headers: Record<string, string> = { ...(opts.origin ? { origin: opts.origin } : {}), ...(opts.cookie === undefined ? {} : { cookie: opts.cookie }) };
    /** One request; for jsonp a GET with a fresh callback, whose name it checks. */
    const call = async (
      endpoint: string,
      query: Record<string, string>,
      init: { method?: 'GET' | 'POST'; body?: string; signal?: AbortSignal } = {},
    ): Promise<CometReply> => {
      const url = new URL(`${baseUrl}/comet/${endpoint}`);
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
      const method = form === 'jsonp' ? 'GET' : (init.method ?? 'POST');
      const callback = form === 'jsonp' ? callbackName() : undefined;
      if (callback !== undefined) url.searchParams.set('callback', callback);
      if (method === 'GET') url.searchParams.set('_', `${Date.now()}${++counter}`);
      const res = await fetch(url, {
        method,
        headers: init.body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        body: init.body,
        signal: init.signal,
      });
      const body = readReply(res, await res.text(), callback);
      const expected = typeof body.error === 'string' ? (ERROR_STATUS[body.error] ?? res.status) : 200;
      if (callback === undefined && res.status !== expected) {
        throw new CometProtocolError(`${endpoint} answered HTTP ${res.status} with ${JSON.stringify(body)}`);
      }
      return { status: res.status, body };
    };

    const opened = await call('open', {});
    if (typeof opened.body.error === 'string') throw new Error(`open refused: ${opened.status} ${opened.body.error}`);
    const { sid, timeout } = opened.body;
    if (typeof sid !== 'string' || !/^[A-Za-z0-9_-]{16,}$/.test(sid)) throw new CometProtocolError(`bad sid ${String(sid)}`);
    if (typeof timeout !== 'number' || timeout <= 0 || timeout >= 60000) throw new CometProtocolError(`bad timeout ${String(timeout)}`);

    const inbox = new Inbox();
    const protocolErrors: string[] = [];
    const abort = new AbortController();
    let ended = false;
    let closing = false;
    let lastSeq = 0;
    let endSession!: () => void;
    const closed = new Promise<undefined>((resolve) => {
      endSession = () => {
        if (ended) return;
        ended = true;
        abort.abort();
        resolve(undefined);
      };
    });
    const violation = (err: unknown): void => {
      const error = err instanceof Error ? err.message : String(err);
      protocolErrors.push(error);
      inbox.push({ cmd: 'client_error', error });
      endSession();
    };
    const isNetworkError = (err: unknown): boolean => !(err instanceof CometProtocolError) && !(err instanceof SyntaxError);

    const pollLoop = async (): Promise<void> => {
      while (!ended) {
        const reply = await call('poll', { sid, ack: String(lastSeq) }, { method: 'GET', signal: abort.signal });
        if (reply.body.error === 'unknown_session') return endSession();
        if (reply.body.error !== undefined) throw new CometProtocolError(`poll answered ${JSON.stringify(reply.body)}`);
        for (const f of framesOf(reply.body)) {
          if (f.seq <= lastSeq) continue; // already seen: a poll answer that was sent again
          lastSeq = f.seq;
          inbox.push(f.msg);
        }
      }
    };
    // A refused connection (the server went away after its `bye`) ends the session like unknown_session would.
    pollLoop().catch((err: unknown) => (ended || closing ? undefined : isNetworkError(err) ? endSession() : violation(err)));

    let sending: Promise<void> = Promise.resolve();
    const post = (body: string): void => {
      sending = sending.then(async () => {
        if (ended) return; // like a write on a closed socket: dropped
        const query: Record<string, string> = form === 'jsonp' ? { sid, d: body } : { sid };
        const reply = await call('send', query, form === 'jsonp' ? {} : { body });
        const { error } = reply.body;
        // Emulation: Comet answers a body that is not JSON (or too large) on the HTTP request, not as a
        // protocol message. The client turns it into the `error` a WebSocket connection would receive,
        // so the shared scenarios can treat every transport alike.
        if (error === 'bad_json' || error === 'too_large') inbox.push({ cmd: 'error', code: error });
        else if (error === 'unknown_session') return; // the poll loop notices the end
        else if (reply.body.ok !== true) throw new CometProtocolError(`send answered ${JSON.stringify(reply.body)}`);
      }).catch((err: unknown) => (ended || isNetworkError(err) ? undefined : violation(err)));
    };

    const client: CometClient = {
      transport: `comet-${form}`,
      sid,
      protocolErrors,
      send: (msg) => post(JSON.stringify([msg])),
      // The body is `[` + text + `]`: text that is not JSON makes the whole body bad JSON (answered bad_json).
      sendRaw: (text) => post(`[${text}]`),
      next: (pred?: Predicate | string, timeoutMs?: number) => inbox.next(pred, timeoutMs),
      quiet: (pred, ms) => inbox.quiet(pred, ms),
      log: inbox.log,
      closed,
      close: () => {
        if (ended || closing) return;
        closing = true;
        abort.abort();
        // `closed` resolves once the server has ended the session, so a new login of the same name is free.
        call('close', { sid }).then(
          (reply) => (reply.body.error === undefined || reply.body.error === 'unknown_session' ? endSession() : violation(new Error(`close answered ${JSON.stringify(reply.body)}`))),
          (err: unknown) => (isNetworkError(err) ? endSession() : violation(err)),
        );
      },
    };
    return client;
  };
}
