/**
 * Raw HTTP access to the Comet endpoints (docs/protocol.md section 4) for tests
 * that assert statuses and headers: one request at a time with fetch, and a
 * small Session that opens, sends, polls and acks by hand.
 */
import { parseJsonp } from './comet-client.js';
import type { Msg } from './client.js';

export interface RawReply {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON (unwrapped when the request had a callback); undefined when it is neither. */
  body: unknown;
  /** ms from the request to the end of its answer. */
  ms: number;
}

export interface RawInit {
  method?: string;
  query?: Record<string, string | string[]>;
  /** A string body gets fetch's default type unless `type` is given; bytes go with no Content-Type at all. */
  body?: string | Uint8Array;
  /** Content-Type of the body. */
  type?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export async function raw(base: string, endpoint: string, init: RawInit = {}): Promise<RawReply> {
  const url = new URL(`${base}/comet/${endpoint}`);
  for (const [k, v] of Object.entries(init.query ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, one);
  }
  const headers: Record<string, string> = { ...init.headers };
  if (init.type !== undefined) headers['content-type'] = init.type;
  const started = Date.now();
  const res = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body, signal: init.signal });
  const text = await res.text();
  const callback = init.query?.callback;
  let body: unknown;
  try {
    body = typeof callback === 'string' && text.startsWith('/**/') ? parseJsonp(text, callback) : (JSON.parse(text) as unknown);
  } catch {
    body = undefined; // not JSON: tests that expect JSON assert on `body` and see undefined
  }
  return { status: res.status, headers: res.headers, text, body, ms: Date.now() - started };
}

export interface Frame {
  seq: number;
  msg: Msg;
}

export interface PollAnswer {
  seq: number;
  frames: Frame[];
}

export function asPoll(reply: RawReply): PollAnswer {
  const body = reply.body as PollAnswer | undefined;
  if (reply.status !== 200 || typeof body?.seq !== 'number' || !Array.isArray(body.frames)) {
    throw new Error(`not a poll answer: HTTP ${reply.status} ${reply.text.slice(0, 200)}`);
  }
  return body;
}

/** A Comet session driven by hand: nothing is acked unless the test says so. */
export class Session {
  /** Highest seq this test has acknowledged. */
  ack = 0;

  constructor(
    readonly base: string,
    readonly sid: string,
    readonly timeout: number,
  ) {}

  pollRaw(ack = this.ack, init: RawInit = {}): Promise<RawReply> {
    return raw(this.base, 'poll', { ...init, query: { sid: this.sid, ack: String(ack), ...init.query } });
  }

  /** One poll with the given ack (default: the last one acked); acks nothing by itself. */
  async poll(ack = this.ack, signal?: AbortSignal): Promise<PollAnswer> {
    return asPoll(await this.pollRaw(ack, { signal }));
  }

  /** Polls and acks until a message matching `pred` has arrived; returns it. */
  async until(pred: (m: Msg) => boolean, timeoutMs = 3000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.poll();
      for (const f of answer.frames) {
        this.ack = Math.max(this.ack, f.seq);
        if (pred(f.msg)) return f.msg;
      }
      if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms`);
    }
  }

  send(msgs: object[], init: RawInit = {}): Promise<RawReply> {
    return raw(this.base, 'send', {
      method: 'POST',
      type: 'application/json',
      body: JSON.stringify(msgs),
      ...init,
      query: { sid: this.sid, ...init.query },
    });
  }

  close(): Promise<RawReply> {
    return raw(this.base, 'close', { method: 'POST', query: { sid: this.sid } });
  }
}

export async function openSession(base: string, headers: Record<string, string> = {}): Promise<Session> {
  const reply = await raw(base, 'open', { method: 'POST', headers });
  const body = reply.body as { sid?: unknown; timeout?: unknown } | undefined;
  if (reply.status !== 200 || typeof body?.sid !== 'string' || typeof body.timeout !== 'number') {
    throw new Error(`open failed: HTTP ${reply.status} ${reply.text.slice(0, 200)}`);
  }
  return new Session(base, body.sid, body.timeout);
}

/** Opens a session and logs `name` in over it; the login answer is acked. */
export async function loggedIn(base: string, name: string, extra: object = {}): Promise<{ s: Session; me: Msg }> {
  const s = await openSession(base);
  const sent = await s.send([{ cmd: 'login', name, ...extra }]);
  if (sent.status !== 200) throw new Error(`send failed: HTTP ${sent.status} ${sent.text}`);
  const me = await s.until((m) => m.cmd === 'login' || m.cmd === 'error');
  if (me.cmd !== 'login') throw new Error(`login of ${name} refused: ${JSON.stringify(me)}`);
  return { s, me };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
