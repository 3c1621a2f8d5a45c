/**
 * One load connection per server kind the comparison bench measures, all
 * behind one small interface: join a room, send a body to a room, hand
 * every incoming text that may carry a body to `onText`, and (where the
 * transport allows) stop reading to play a slow consumer.
 *
 * webim speaks its own protocol (login first; bench/harness/chat-session.ts
 * over WebSocket and sockjs-client, a Comet loop here); the peers speak
 * the tiny protocol of peers/peer-rooms.ts: `ws` and raw SockJS over the `ws`
 * package, socket.io-client, and sockjs-client for xhr-polling.
 */
import { Agent } from 'node:http';
import SockJS from 'sockjs-client';
import { io, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import WebSocket from 'ws';
import { type BenchSession, type CometAnswer, cometCall, openSession } from '../harness/chat-session.js';
import { now } from '../harness/measure.js';

export const KINDS = ['webim-ws', 'webim-sockjs', 'webim-comet', 'ws', 'sio-ws', 'sio-polling', 'sockjs-ws', 'sockjs-xhr-polling'] as const;
export type Kind = (typeof KINDS)[number];
export type ServerName = 'webim' | 'ws' | 'socket.io' | 'sockjs';

export function serverOf(kind: Kind): ServerName {
  if (kind.startsWith('webim')) return 'webim';
  if (kind === 'ws') return 'ws';
  return kind.startsWith('sio') ? 'socket.io' : 'sockjs';
}

export interface LoadConn {
  /** Every text that may carry a bench body, with its arrival time (ms, comparable between processes). */
  onText: (text: string, at: number) => void;
  readonly closed: () => boolean;
  join(room: string): Promise<void>;
  /** Leaves a room; only webim puts a user in a room (`lobby`) by itself. */
  leave(room: string): Promise<void>;
  send(room: string, body: string): void;
  /** Round trip to the server and back, after everything the server queued before it (webim only; others resolve at once). */
  sync(): Promise<void>;
  pause: (() => void) | undefined;
  resume: (() => void) | undefined;
  close(): void;
  /** webim's login token, for further devices of the same identity. */
  token?: string;
}

export interface OpenOptions {
  port: number;
  localAddress: string;
  /** webim: the guest name to log in as, or a token of an identity already logged in. */
  name: string;
  token?: string;
  timeoutMs?: number;
}

// One keep-alive pool per source address: Comet, socket.io polling and sockjs-client's XHR go through them.
const agents = new Map<string, Agent>();
function agentFor(localAddress: string): Agent {
  let a = agents.get(localAddress);
  if (!a) agents.set(localAddress, (a = new Agent({ keepAlive: true, localAddress, maxSockets: Infinity, maxFreeSockets: 4096 })));
  return a;
}

let cids = 0;

async function webimSession(kind: 'webim-ws' | 'webim-sockjs', o: OpenOptions): Promise<LoadConn> {
  const s: BenchSession = await openSession(kind === 'webim-ws' ? 'ws' : 'sockjs', o.port, o.localAddress, o.timeoutMs);
  const conn: LoadConn = {
    onText: () => {},
    closed: () => s.closed,
    join: async (room) => void (await s.request({ cmd: 'join', room }, 'joined', 60_000)),
    leave: async (room) => void (await s.request({ cmd: 'leave', room }, 'left', 60_000)),
    send: (room, body) => s.send({ cmd: 'send', to: { room }, type: 'text', body, cid: `c${++cids}` }),
    sync: async () => void (await s.request({ cmd: 'ping' }, 'pong', 120_000)),
    pause: s.pause,
    resume: s.resume,
    close: () => s.close(),
  };
  s.onMessage = (body, at) => conn.onText(body, at);
  const login = o.token === undefined ? { cmd: 'login', name: o.name } : { cmd: 'login', token: o.token };
  // The login answer carries a token BenchSession's typings leave out.
  const answer = (await s.request(login, 'login', 120_000)) as { token?: string };
  conn.token = answer.token;
  return conn;
}

type CometMsg = NonNullable<CometAnswer['frames']>[number]['msg'];

/** A webim Comet session: one poll always held, acking what it saw; answers the bench waits for matched by command. */
async function webimComet(o: OpenOptions): Promise<LoadConn> {
  // A pool of its own, as each browser has: the held poll keeps one socket, a send during it takes one more.
  const agent = new Agent({ keepAlive: true, localAddress: o.localAddress, maxFreeSockets: 1 });
  const opened = await cometCall(agent, o.port, 'GET', '/comet/open');
  if (typeof opened.sid !== 'string') throw new Error(`comet open: ${JSON.stringify(opened)}`);
  const sid = opened.sid;
  // The agent takes a socket back only after the response's end: a request made at once would open a second one.
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
  await settle();
  const waiters = new Map<string, Array<(f: CometMsg) => void>>();
  let closed = false;
  let failure: Error | undefined;
  const post = (msg: object): void => {
    cometCall(agent, o.port, 'POST', `/comet/send?sid=${sid}`, JSON.stringify([msg])).catch((err: unknown) => {
      failure ??= err instanceof Error ? err : new Error(String(err));
    });
  };
  const wait = (cmd: string, msg: object): Promise<CometMsg> =>
    new Promise((resolve, reject) => {
      if (closed) return reject(failure ?? new Error('comet session closed'));
      const q = waiters.get(cmd) ?? [];
      q.push(resolve);
      waiters.set(cmd, q);
      post(msg);
    });
  const conn: LoadConn = {
    onText: () => {},
    closed: () => closed,
    join: async (room) => void (await wait('joined', { cmd: 'join', room })),
    leave: async (room) => void (await wait('left', { cmd: 'leave', room })),
    send: (room, body) => post({ cmd: 'send', to: { room }, type: 'text', body, cid: `c${++cids}` }),
    sync: async () => void (await wait('pong', { cmd: 'ping' })),
    pause: undefined,
    resume: undefined,
    close: () => {
      closed = true;
      void cometCall(agent, o.port, 'GET', `/comet/close?sid=${sid}`).catch(() => undefined);
    },
  };
  const loop = async (): Promise<void> => {
    let ack = 0;
    while (!closed) {
      const a = await cometCall(agent, o.port, 'GET', `/comet/poll?sid=${sid}&ack=${ack}`);
      const at = now();
      await settle();
      if (a.error !== undefined) throw new Error(`comet poll: ${a.error}`);
      for (const f of a.frames ?? []) {
        ack = f.seq;
        const m = f.msg;
        if (m.cmd === 'message') conn.onText(m.body ?? '', at);
        else if (m.cmd === 'bye' || (m.cmd === 'error' && m.code !== undefined)) throw new Error(`comet: ${JSON.stringify(m)}`);
        else waiters.get(m.cmd)?.shift()?.(m);
      }
    }
  };
  // The login is posted before the first poll, so that the poll reuses its keep-alive socket: one socket per idle session, as
  // in bench/longpoll-bench.ts (later sends during a held poll take a second one, as they would in a browser).
  const loginAnswer = new Promise<CometMsg>((resolve) => waiters.set('login', [resolve]));
  await cometCall(agent, o.port, 'POST', `/comet/send?sid=${sid}`, JSON.stringify([o.token === undefined ? { cmd: 'login', name: o.name } : { cmd: 'login', token: o.token }]));
  await settle();
  loop().catch((err: unknown) => {
    failure ??= err instanceof Error ? err : new Error(String(err));
    closed = true;
  });
  conn.token = (await loginAnswer).token;
  return conn;
}

/**
 * A peer connection's joins: `join` sends `{"join":R}` through `write` and resolves on the `{"joined":R}` that
 * `take` sees; any other text `take` hands to the connection's onText.
 */
function peerJoins(write: (text: string) => void, conn: () => LoadConn): { join: (room: string) => Promise<void>; take: (text: string, at: number) => void } {
  const joins = new Map<string, () => void>();
  return {
    join: (room) =>
      new Promise<void>((res) => {
        joins.set(room, res);
        write(JSON.stringify({ join: room }));
      }),
    take: (text, at) => {
      if (text.startsWith('{"joined":')) {
        const room = (JSON.parse(text) as { joined: string }).joined;
        joins.get(room)?.();
        joins.delete(room);
      } else conn().onText(text, at);
    },
  };
}

/** The peers' WebSocket clients: bare `ws`, or raw SockJS framing (`o`, `h`, `a[...]`) over `ws`. */
function wsPeer(url: string, sockjsFraming: boolean, o: OpenOptions): Promise<LoadConn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress: o.localAddress, perMessageDeflate: false, handshakeTimeout: o.timeoutMs ?? 15_000 });
    let closed = false;
    const write = (text: string): void => ws.send(sockjsFraming ? JSON.stringify([text]) : text);
    const { join, take } = peerJoins(write, () => conn);
    const conn: LoadConn = {
      onText: () => {},
      closed: () => closed,
      join,
      leave: async () => undefined,
      send: (room, body) => write(JSON.stringify({ room, body })),
      sync: async () => undefined,
      pause: () => ws.pause(),
      resume: () => ws.resume(),
      close: () => ws.close(),
    };
    ws.on('message', (data) => {
      const at = now();
      const text = String(data);
      if (!sockjsFraming) return take(text, at);
      if (text === 'o' && !opened) {
        opened = true;
        resolve(conn);
      } else if (text.startsWith('a')) for (const t of JSON.parse(text.slice(1)) as string[]) take(t, at);
    });
    let opened = false;
    ws.once('open', () => {
      if (sockjsFraming) return;
      opened = true;
      resolve(conn);
    });
    ws.on('error', (err) => {
      if (!opened) reject(err);
    });
    ws.once('close', () => {
      closed = true;
      if (!opened) reject(new Error('closed before open'));
    });
  });
}

/** engine.io-client passes `localAddress` to `ws` and `agent` to its Node XHR, but its typings know neither. */
type SioOptions = Omit<Partial<ManagerOptions & SocketOptions>, 'agent'> & { localAddress?: string; agent?: Agent };

function sioPeer(transport: 'websocket' | 'polling', o: OpenOptions): Promise<LoadConn> {
  return new Promise((resolve, reject) => {
    const options: SioOptions = { transports: [transport], forceNew: true, reconnection: false, timeout: o.timeoutMs ?? 15_000 };
    if (transport === 'websocket') options.localAddress = o.localAddress;
    else options.agent = agentFor(o.localAddress);
    const socket = io(`http://127.0.0.1:${o.port}`, options as unknown as Partial<ManagerOptions & SocketOptions>);
    let opened = false;
    const conn: LoadConn = {
      onText: () => {},
      closed: () => !socket.connected,
      join: async (room) => void (await socket.timeout(60_000).emitWithAck('join', room)),
      leave: async () => undefined,
      send: (room, body) => void socket.emit('msg', room, body),
      sync: async () => undefined,
      // In Node the websocket transport holds a `ws` WebSocket as `ws`; polling has nothing to pause.
      pause: transport === 'websocket' ? () => (socket.io.engine.transport as unknown as { ws?: WebSocket }).ws?.pause() : undefined,
      resume: transport === 'websocket' ? () => (socket.io.engine.transport as unknown as { ws?: WebSocket }).ws?.resume() : undefined,
      close: () => void socket.disconnect(),
    };
    socket.on('msg', (text: string) => conn.onText(text, now()));
    socket.once('connect', () => {
      opened = true;
      resolve(conn);
    });
    socket.once('connect_error', (err) => {
      if (!opened) reject(err);
    });
  });
}

/** sockjs-client forced to xhr-polling; its requests go through http.globalAgent, which the worker points at its address. */
function sockjsPolling(o: OpenOptions): Promise<LoadConn> {
  return new Promise((resolve, reject) => {
    const sock = new SockJS(`http://127.0.0.1:${o.port}/sockjs`, undefined, { transports: ['xhr-polling'], timeout: o.timeoutMs ?? 15_000 });
    let closed = false;
    let opened = false;
    const { join, take } = peerJoins((text) => sock.send(text), () => conn);
    const conn: LoadConn = {
      onText: () => {},
      closed: () => closed,
      join,
      leave: async () => undefined,
      send: (room, body) => sock.send(JSON.stringify({ room, body })),
      sync: async () => undefined,
      pause: undefined,
      resume: undefined,
      close: () => sock.close(),
    };
    sock.onmessage = (e: { data: unknown }) => {
      const at = now();
      take(String(e.data), at);
    };
    sock.onopen = () => {
      opened = true;
      resolve(conn);
    };
    sock.onclose = (e: { code: number; reason: string }) => {
      closed = true;
      if (!opened) reject(new Error(`sockjs closed before open: ${e.code} ${e.reason}`));
    };
  });
}

export function openConn(kind: Kind, o: OpenOptions): Promise<LoadConn> {
  switch (kind) {
    case 'webim-ws':
    case 'webim-sockjs':
      return webimSession(kind, o);
    case 'webim-comet':
      return webimComet(o);
    case 'ws':
      return wsPeer(`ws://127.0.0.1:${o.port}/`, false, o);
    case 'sockjs-ws':
      return wsPeer(`ws://127.0.0.1:${o.port}/sockjs/000/${Math.random().toString(36).slice(2, 10)}/websocket`, true, o);
    case 'sio-ws':
      return sioPeer('websocket', o);
    case 'sio-polling':
      return sioPeer('polling', o);
    case 'sockjs-xhr-polling':
      return sockjsPolling(o);
  }
}
