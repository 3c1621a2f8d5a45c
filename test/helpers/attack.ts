/**
 * Tools for the resource-exhaustion tests: raw TCP sockets that trickle
 * bytes (slowloris) from a chosen loopback address, and a pair of users who
 * keep chatting while an attack runs, so a test can tell that everyone
 * else was still served.
 */
import { connect } from 'node:net';
import type { ChatClient, Connect } from './client.js';
import { login } from '../scenarios/chat.js';

export interface Trickle {
  /** Bytes the server sent back before it closed the connection. */
  data: Buffer;
  /** ms from connect to the server closing the connection; undefined if it never did (the test gave up). */
  closedAfter: number | undefined;
  /** Bytes written before the close. */
  sent: number;
}

/**
 * Connects from `from`, writes `head` at once, then one byte of `drip`
 * every `gapMs` (round and round, never completing anything) until the
 * server closes the connection, or `giveUpMs` passes.
 */
export function trickle(port: number, from: string, head: string | Buffer, drip: string, gapMs: number, giveUpMs: number): Promise<Trickle> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    const started = Date.now();
    const chunks: Buffer[] = [];
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    let i = 0;
    const finish = (closedAfter: number | undefined) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ data: Buffer.concat(chunks), closedAfter, sent });
    };
    const giveUp = setTimeout(() => {
      socket.removeAllListeners('close');
      socket.destroy();
      finish(undefined);
    }, giveUpMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    // A reset is a close too; what matters is when, and what came before it.
    socket.on('error', () => undefined);
    socket.once('close', () => finish(Date.now() - started));
    socket.once('connect', () => {
      if (head.length > 0) {
        socket.write(head);
        sent += head.length;
      }
      if (drip.length === 0) return;
      timer = setInterval(() => {
        if (socket.destroyed || socket.writableEnded) return;
        socket.write(drip[i++ % drip.length] as string);
        sent++;
      }, gapMs);
    });
  });
}

export interface Conversation {
  /** Messages the other user has received so far. */
  readonly received: number;
  /** Resolves once the other user has received `count` messages in all; rejects after `timeoutMs`. */
  reach(count: number, timeoutMs?: number): Promise<void>;
  /** Stops the chat and resolves with how many messages were sent and how many the other user received. */
  stop(): Promise<{ sent: number; received: number; acked: number }>;
}

/**
 * Two users who chat in the lobby, one message every `gapMs`, each one
 * acked to its sender and delivered to the other, until stopped.
 */
export async function converse(connect: Connect, names: [string, string], gapMs = 100): Promise<Conversation> {
  const { c: a } = await login(connect, names[0]);
  const { c: b } = await login(connect, names[1]);
  let running = true;
  let sent = 0;
  let acked = 0;
  let received = 0;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const body = `${names[0]} says ${i}`;
      const cid = `${names[0]}-${i}`;
      a.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body, cid });
      sent++;
      await a.next((m) => m.cmd === 'ack' && m.cid === cid, 10000);
      acked++;
      await b.next((m) => m.cmd === 'message' && m.body === body, 10000);
      received++;
      await new Promise((r) => setTimeout(r, gapMs));
    }
  })();
  // Reported by stop(); until then a failure must not surface as an unhandled rejection.
  loop.catch(() => undefined);
  const close = (c: ChatClient) => c.close();
  return {
    get received() {
      return received;
    },
    async reach(count, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      while (received < count) {
        if (Date.now() > deadline) throw new Error(`the users exchanged ${received} messages, not ${count}, within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      running = false;
      await loop;
      close(a);
      close(b);
      return { sent, received, acked };
    },
  };
}
