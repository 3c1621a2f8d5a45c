import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import t, { type Test } from 'tap';
import * as wsModule from 'ws';
import WebSocket, { WebSocketServer } from 'ws';
import { OutFrame } from '../src/core/transport.js';
import { textFrame, writeFrame, writePing, writeText } from '../transports/ws-writer.js';

/** A ws server on a loopback port and one client connected to it; resolves with both ends. */
async function pair(t: Test): Promise<{ server: WebSocket; client: WebSocket; received: string[] }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await once(wss, 'listening');
  const { port } = wss.address() as AddressInfo;
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  const received: string[] = [];
  client.on('message', (data, isBinary) => received.push(isBinary ? '(binary)' : String(data)));
  const [server] = (await once(wss, 'connection')) as [WebSocket];
  await once(client, 'open');
  t.teardown(() => {
    client.terminate();
    wss.close();
  });
  return { server, client, received };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** ws's own framing (Sender.frame, which @types/ws leaves out), to check ours against. */
type FrameFn = (data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }) => Buffer[];
const wsFrame = (wsModule as unknown as { Sender: { frame: FrameFn } }).Sender.frame;

t.test('frames are byte for byte what ws builds, at every length form', async (t) => {
  for (const text of ['', 'a', 'x'.repeat(125), 'é'.repeat(63), 'x'.repeat(126), '€'.repeat(21_845), 'x'.repeat(65_536), '𝄞'.repeat(20_000)]) {
    const expected = Buffer.concat(wsFrame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }));
    t.ok(textFrame(text).equals(expected), `${Buffer.byteLength(text)} bytes`);
  }
});

t.test('a broadcast is framed once: the OutFrame every recipient gets carries its WebSocket bytes', async (t) => {
  const text = JSON.stringify({ cmd: 'message', body: 'héllo' });
  const shared = new OutFrame(text);
  const { server: first, received: got1 } = await pair(t);
  const { server: second, received: got2 } = await pair(t);
  writeFrame(first, shared);
  const a = shared.wire;
  writeFrame(second, shared);
  t.ok(a, 'the first socket framed it');
  t.equal(shared.wire, a, 'the second socket wrote the same Buffer');
  await until(() => got1.length > 0 && got2.length > 0, 'both peers to read it');
  t.same([...got1, ...got2], [text, text], 'both peers read the text');
  const frame = textFrame(text);
  t.same(frame, a, 'an equal string frames to equal bytes');
  t.not(textFrame(text), frame, 'text alone is framed anew: nothing is cached behind the caller\'s back');
  t.equal(frame[0], 0x81, 'FIN and the text opcode');
  t.equal(frame[1], Buffer.byteLength(text), 'unmasked, 7-bit length');
  t.equal(frame.subarray(2).toString('utf8'), text);
  const big = textFrame('x'.repeat(70_000));
  t.equal(big[1], 127, '64-bit length for a frame over 65535 bytes');
  t.equal(big.length, 10 + 70_000);
});

t.test('frames written in one tick are corked together and arrive whole and in order', async (t) => {
  const { server, received } = await pair(t);
  const socket = (server as unknown as { _socket: Socket })._socket;
  const texts = ['{"n":1}', '{"n":2,"s":"ü€𝄞"}', 'x'.repeat(100_000), '{"n":4}'];
  for (const text of texts) writeText(server, text);
  t.equal(socket.writableCorked, 1, 'corked until the end of the tick (re-corked after the early flush of a big frame)');
  await new Promise((r) => process.nextTick(r));
  t.equal(socket.writableCorked, 0, 'uncorked at the end of the tick');
  await until(() => received.length === texts.length, 'every frame');
  t.same(received, texts);
});

t.test('ws\'s own frames keep their place among ours', async (t) => {
  const { server, client, received } = await pair(t);
  let closeCode = 0;
  client.on('close', (code) => {
    closeCode = code;
  });
  writeText(server, '{"cmd":"bye"}');
  server.close(4001, 'kicked');
  await until(() => closeCode !== 0, 'the close');
  t.same(received, ['{"cmd":"bye"}'], 'the frame written before the close frame arrived before it');
  t.equal(closeCode, 4001);
});

t.test('a heartbeat ping is the frame ws would send, arrives in order with text, and is answered', async (t) => {
  const empty = Buffer.concat(wsFrame(Buffer.alloc(0), { fin: true, opcode: 9, mask: false, readOnly: true, rsv1: false }));
  t.same([...empty], [0x89, 0x00], 'ws frames an empty ping as these two bytes');
  const { server, client, received } = await pair(t);
  const order: string[] = [];
  client.on('ping', () => order.push('(ping)'));
  client.on('message', (data) => order.push(String(data)));
  let pongs = 0;
  server.on('pong', () => pongs++);
  writeText(server, 'before');
  writePing(server);
  writeText(server, 'after');
  await until(() => received.length === 2 && pongs === 1, 'two messages and a pong');
  t.same(order, ['before', '(ping)', 'after'], 'the ping keeps its place among the frames of its tick');
  t.equal(pongs, 1, 'the client answered it');
});
