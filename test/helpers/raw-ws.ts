/**
 * A WebSocket spoken byte by byte over a raw TCP socket, for the hostile
 * input tests: upgrade requests with any headers, and frames with any bits,
 * lengths and payloads a well-behaved client library would refuse to send.
 * Also the check every hostile test ends with: a fresh client can still log
 * in and chat.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { Test } from 'tap';
import { wsConnect } from './ws-client.js';
import { login, sendText } from '../scenarios/chat.js';

export interface RawAnswer {
  /** The status line and headers the server wrote, or '' when it wrote nothing. */
  head: string;
  status: number;
  /** Bytes after the head (WebSocket frames, or an HTTP body). */
  rest: Buffer;
  ms: number;
}

/**
 * Writes `request` and collects what comes back until the server closes or
 * `timeoutMs` passes; a 101 answer ends it at once (the socket is an open
 * WebSocket then, with nothing more to wait for).
 */
export function rawExchange(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawAnswer & { closed: boolean }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = (): void => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const head = end < 0 ? all.toString('latin1') : all.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ head, status, rest: end < 0 ? Buffer.alloc(0) : all.subarray(end + 4), ms: Date.now() - started, closed });
    };
    socket.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.indexOf('\r\n\r\n') >= 0 && /^HTTP\/1\.1 101 /.test(all.toString('latin1'))) socket.destroy();
    });
    // A reset after the answer (the server destroying a socket we still write to) is an answer, not a failure.
    socket.on('error', (err) => (chunks.length > 0 ? undefined : reject(err)));
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      finish();
    });
    const timer = setTimeout(() => {
      socket.destroy();
    }, timeoutMs);
    socket.write(request);
  });
}

export function upgradeRequest(port: number, path: string, extra = ''): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n${extra}\r\n`
  );
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer;
  fin?: boolean;
  /** RSV1..3 as bits 0x4, 0x2, 0x1. */
  rsv?: number;
  /** A length to declare instead of the payload's own (the payload is still what is sent). */
  declared?: bigint;
  mask?: boolean;
}

/** One frame as RFC 6455 section 5.2 lays it out, masked as a client's must be. */
export function frame(spec: FrameSpec): Buffer {
  const payload = spec.payload ?? Buffer.alloc(0);
  const declared = spec.declared ?? BigInt(payload.length);
  const b0 = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode;
  const maskBit = (spec.mask ?? true) ? 0x80 : 0;
  let len: Buffer;
  if (declared < 126n) len = Buffer.from([maskBit | Number(declared)]);
  else if (declared < 65536n) {
    len = Buffer.alloc(3);
    len[0] = maskBit | 126;
    len.writeUInt16BE(Number(declared), 1);
  } else {
    len = Buffer.alloc(9);
    len[0] = maskBit | 127;
    len.writeBigUInt64BE(declared, 1);
  }
  if (!maskBit) return Buffer.concat([Buffer.from([b0]), len, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] = (masked[i] as number) ^ (key[i % 4] as number);
  return Buffer.concat([Buffer.from([b0]), len, key, masked]);
}

/** An open raw WebSocket: the upgrade answered 101, then frames go out and the close code comes back. */
export class RawWebSocket {
  private readonly chunks: Buffer[] = [];
  readonly ended: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d) => this.chunks.push(d));
    socket.on('error', () => undefined); // a reset while the test still writes is one way of being refused
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(port: number, path: string, extra = ''): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const ws = new RawWebSocket(socket);
      const check = (): void => {
        const all = Buffer.concat(ws.chunks);
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', check);
        const head = all.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101 /.test(head)) return reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        ws.chunks.splice(0, ws.chunks.length, all.subarray(end + 4));
        resolve(ws);
      };
      socket.on('data', check);
      socket.once('error', reject);
      socket.write(upgradeRequest(port, path, extra));
    });
  }

  write(data: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /**
   * The status code of the server's close frame once the socket has ended,
   * or 'none' if it ended without one; rejects if it is still open after
   * `timeoutMs`.
   */
  async closeCode(timeoutMs = 5000): Promise<number | 'none'> {
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    if ((await Promise.race([this.ended, timeout])) === 'timeout') {
      this.socket.destroy();
      throw new Error(`the server left the socket open for ${timeoutMs} ms`);
    }
    return closeCodeIn(Buffer.concat(this.chunks));
  }
}

/** Walks the server's (unmasked) frames and returns the code of the first close frame. */
function closeCodeIn(data: Buffer): number | 'none' {
  let i = 0;
  while (i + 2 <= data.length) {
    const opcode = (data[i] as number) & 0x0f;
    let len = (data[i + 1] as number) & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = data.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      len = Number(data.readBigUInt64BE(at));
      at += 8;
    }
    if (opcode === 0x8) return len >= 2 ? data.readUInt16BE(at) : 'none';
    i = at + len;
  }
  return 'none';
}

/** After an attack: the server still answers /healthz, and two fresh users log in and chat over WebSocket. */
export async function stillChatting(t: Test, baseUrl: string, what: string): Promise<void> {
  t.equal((await fetch(`${baseUrl}/healthz`)).status, 200, `${what}: /healthz still answers`);
  const connect = wsConnect(baseUrl);
  const tag = randomBytes(4).toString('hex');
  const { c: a } = await login(connect, `a${tag}`);
  const { c: b } = await login(connect, `b${tag}`);
  const body = `still here after ${what}`;
  sendText(a, { room: 'lobby' }, body);
  const got = await b.next((m) => m.cmd === 'message' && m.body === body);
  t.equal((got.from as { id: string }).id, `a${tag}`, `${what}: a fresh client logs in and chats`);
  a.close();
  b.close();
  await Promise.all([a.closed, b.closed]);
}
