/**
 * A chat connection for benches, over the transport under test: `ws`
 * (the `ws` package on `/ws`), or sockjs-client 1.x on `/sockjs` pinned to
 * its `websocket` or `xhr-streaming` transport, as a browser would use it.
 * Kept lean (no message log, no per-frame promises) because one client
 * process holds hundreds of these and takes a hundred thousand frames a
 * second between them. Also the JSON requests of webim's Comet transport,
 * which the long-poll bench and the comparison's Comet client make.
 *
 * Source addresses: `ws` and sockjs's WebSocket take one per connection;
 * sockjs's XHR transports go through http.globalAgent, so a process picks
 * one for all of them with useSourceAddress.
 */
import http, { type Agent, request } from 'node:http';
import SockJS from 'sockjs-client';
import WebSocket from 'ws';
import { now } from './measure.js';

/** The body of a chat line of typical length, after a bench's own marker and sequence number. */
export const FILLER = 'the quick brown fox jumps over the lazy dog while the lobby reads along';

export const TRANSPORTS = ['ws', 'sockjs', 'sockjs-xhr-streaming'] as const;
export type BenchTransport = (typeof TRANSPORTS)[number];

export function isTransport(text: string | undefined): text is BenchTransport {
  return (TRANSPORTS as readonly string[]).includes(text ?? '');
}

export interface Incoming {
  cmd: string;
  body?: string;
  code?: string;
  ref?: string;
  event?: string;
}

/** Routes sockjs-client's HTTP requests (info, xhr-streaming, xhr_send) of this process from one source address. */
export function useSourceAddress(localAddress: string): void {
  // Through the module's setter (an import binding cannot be assigned); like Node 20's default, it keeps connections alive.
  Reflect.set(http, 'globalAgent', new http.Agent({ keepAlive: true, localAddress }));
}

type Sender = (text: string) => void;

const PRESENCE = '{"cmd":"presence",';

/**
 * One logged-in (or logging-in) chat connection. Answers the bench waits
 * for (`login`, `pong`) are matched in order per command; room messages go
 * to `onMessage` with the time they arrived, presence is only counted.
 */
export class BenchSession {
  presence = 0;
  acks = 0;
  errors = 0;
  firstError: string | undefined;
  closed = false;
  closeReason: string | undefined;
  onMessage: (body: string, at: number) => void = () => {};
  onClose: () => void = () => {};
  /** Stops reading from the socket (a slow consumer); only the `ws` transport sets one. */
  pause: (() => void) | undefined;
  resume: (() => void) | undefined;
  private readonly waiters = new Map<string, Array<(m: Incoming) => void>>();
  private readonly failers = new Set<(err: Error) => void>();

  constructor(
    private readonly sendText: Sender,
    readonly close: () => void,
  ) {}

  send(msg: object): void {
    this.sendText(JSON.stringify(msg));
  }

  receive(text: string): void {
    const at = now();
    // Every login sends one to each member online (a million in a 1000-member setup): count it unparsed. The
    // server writes `cmd` first; any other spelling is still parsed and counted below.
    if (text.startsWith(PRESENCE)) {
      this.presence++;
      return;
    }
    const m = JSON.parse(text) as Incoming;
    if (m.cmd === 'message') return this.onMessage(m.body ?? '', at);
    if (m.cmd === 'presence') {
      this.presence++;
      return;
    }
    if (m.cmd === 'ack') {
      this.acks++;
      return;
    }
    if (m.cmd === 'error' || m.cmd === 'bye') {
      this.errors++;
      this.firstError ??= text.slice(0, 200);
      if (m.cmd === 'bye' || m.ref === 'login') this.fail(new Error(`server said ${text.slice(0, 200)}`));
      return;
    }
    const queue = this.waiters.get(m.cmd);
    queue?.shift()?.(m);
  }

  ended(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.fail(new Error(`connection closed: ${reason}`));
    this.onClose();
  }

  private fail(err: Error): void {
    for (const f of [...this.failers]) f(err);
  }

  /** Sends `msg` and resolves with the next `answer` command, or rejects on error, close or timeout. */
  request(msg: object, answer: string, timeoutMs: number): Promise<Incoming> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection closed'));
      const done = (): void => {
        clearTimeout(timer);
        this.failers.delete(onFail);
      };
      const onAnswer = (m: Incoming): void => {
        done();
        resolve(m);
      };
      const onFail = (err: Error): void => {
        done();
        const queue = this.waiters.get(answer);
        const i = queue?.indexOf(onAnswer) ?? -1;
        if (queue && i >= 0) queue.splice(i, 1);
        reject(err);
      };
      const timer = setTimeout(() => onFail(new Error(`no ${answer} within ${timeoutMs} ms`)), timeoutMs);
      this.failers.add(onFail);
      const queue = this.waiters.get(answer) ?? [];
      queue.push(onAnswer);
      this.waiters.set(answer, queue);
      this.send(msg);
    });
  }
}

function openWs(port: number, localAddress: string | undefined, timeoutMs: number): Promise<BenchSession> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const session = new BenchSession(
      (text) => ws.send(text),
      () => ws.close(),
    );
    session.pause = () => ws.pause();
    session.resume = () => ws.resume();
    ws.on('message', (data) => session.receive(String(data)));
    ws.once('open', () => resolve(session));
    // Kept on after open: a later error is followed by 'close', which is what counts; unheard, it would crash the worker.
    ws.on('error', (err) => reject(err));
    ws.once('close', (code) => session.ended(`ws ${code}`));
  });
}

/** sockjs-client takes per-transport options that its typings omit; `net` reaches faye-websocket's net.connect. */
type SockJSOptions = SockJS.Options & { transportOptions?: { websocket?: object } };

/**
 * faye-websocket's client connects with `options.net`, but its option
 * check (a for-in over the options) refuses the key it reads; a
 * non-enumerable property gets past the check and is still read. A fresh
 * object per connection: faye-websocket writes the host and port into it.
 */
export function websocketOptions(localAddress: string): object {
  return Object.defineProperty({}, 'net', { value: { localAddress }, enumerable: false });
}

function openSockJS(port: number, transport: 'websocket' | 'xhr-streaming', localAddress: string | undefined, timeoutMs: number): Promise<BenchSession> {
  return new Promise((resolve, reject) => {
    const options: SockJSOptions = { transports: [transport], timeout: timeoutMs };
    if (localAddress !== undefined && transport === 'websocket') options.transportOptions = { websocket: websocketOptions(localAddress) };
    const sock = new SockJS(`http://127.0.0.1:${port}/sockjs`, undefined, options);
    const session = new BenchSession(
      (text) => sock.send(text),
      () => sock.close(),
    );
    let opened = false;
    const timer = setTimeout(() => {
      if (opened) return;
      sock.close();
      reject(new Error(`sockjs ${transport}: not open within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.onmessage = (e: { data: unknown }) => session.receive(String(e.data));
    sock.onclose = (e: { code: number; reason: string }) => {
      clearTimeout(timer);
      session.ended(`sockjs ${e.code} ${e.reason}`);
      if (!opened) reject(new Error(`sockjs ${transport}: closed before open (${e.code} ${e.reason})`));
    };
    sock.onopen = () => {
      opened = true;
      clearTimeout(timer);
      // sockjs-client would silently fall back; a bench of the wrong transport is worse than none.
      const via = (sock as unknown as { transport?: string }).transport;
      if (via !== undefined && via !== transport) {
        sock.close();
        reject(new Error(`sockjs opened ${via}, not ${transport}`));
        return;
      }
      resolve(session);
    };
  });
}

/** Opens one connection over `transport`; logging in is the caller's. */
export function openSession(transport: BenchTransport, port: number, localAddress?: string, timeoutMs = 15_000): Promise<BenchSession> {
  if (transport === 'ws') return openWs(port, localAddress, timeoutMs);
  return openSockJS(port, transport === 'sockjs' ? 'websocket' : 'xhr-streaming', localAddress, timeoutMs);
}

/** What webim's Comet answers: a session id, frames, or an error. */
export interface CometAnswer {
  sid?: string;
  frames?: Array<{ seq: number; msg: { cmd: string; body?: string; token?: string; code?: string } }>;
  error?: string;
}

/**
 * One Comet request (`/comet/open`, `/comet/send`, `/comet/poll`, ...) through `agent`, resolving with its parsed
 * JSON. `localAddress` for a request of an agent that serves several source addresses.
 */
export function cometCall(agent: Agent, port: number, method: 'GET' | 'POST', path: string, body?: string, localAddress?: string): Promise<CometAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers, ...(localAddress === undefined ? {} : { localAddress }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as CometAnswer);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
