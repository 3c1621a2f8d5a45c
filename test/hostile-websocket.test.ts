/**
 * Hostile WebSocket input (issue 7), on both WebSocket endpoints: `/ws`
 * (ws) and SockJS's raw `/sockjs/websocket` (faye-websocket). Upgrades with
 * thousands of headers, header values built to make parsers backtrack,
 * extension names that are Object.prototype members, and frames no honest
 * client sends: reserved bits, a 2^63-1 length, endless fragments, long
 * control frames, invalid UTF-8. Each gets its RFC 6455 close code (1002
 * protocol error, 1007 bad data, 1009 too big) or an HTTP refusal, and after
 * each a fresh client still logs in and chats.
 */
import t from 'tap';
import { frame, RawWebSocket, rawExchange, stillChatting, upgradeRequest } from './helpers/raw-ws.js';
import { startServer } from './helpers/server.js';

const MAX = 2048;
const ENDPOINTS = ['/ws', '/sockjs/websocket'] as const;
const TEXT = 0x1;
const CONTINUATION = 0x0;
const PING = 0x9;
const CLOSE = 0x8;
/** Well beyond any honest parse of the inputs below; a parser that backtracks on them takes minutes. */
const ANSWER_WITHIN_MS = 3000;

t.test('hostile upgrades are answered at once and refused or taken, never a crash', async (t) => {
  const s = await startServer({ maxMessageSize: MAX });
  t.teardown(() => s.close());
  const cases: Array<[string, string, number[]]> = [
    ['5,000 headers (over the 16 KiB header limit)', Array.from({ length: 5000 }, (_, i) => `X-Pad-${i}: v\r\n`).join(''), [431]],
    ['1,800 tiny headers (under the limit)', Array.from({ length: 1800 }, (_, i) => `x${i}:\r\n`).join(''), [101, 400]],
    ['100 KB Sec-WebSocket-Protocol of ", , ,"', `Sec-WebSocket-Protocol: ${', '.repeat(50000)}\r\n`, [431]],
    // ws refuses a malformed list; faye-websocket (SockJS) ignores what it does not offer and picks no protocol.
    ['14 KB Sec-WebSocket-Protocol of ", , ,"', `Sec-WebSocket-Protocol: ${', '.repeat(7000)}\r\n`, [101, 400]],
    ['14 KB Sec-WebSocket-Protocol of "a,a,a"', `Sec-WebSocket-Protocol: ${'a,'.repeat(7000)}a\r\n`, [101, 400]],
    ['100 KB Sec-WebSocket-Extensions of "a;b="', `Sec-WebSocket-Extensions: ${'a;b='.repeat(25000)}\r\n`, [431]],
    ['14 KB Sec-WebSocket-Extensions of "a;b="', `Sec-WebSocket-Extensions: ${'a;b='.repeat(3500)}\r\n`, [101, 400]],
    ['14 KB Sec-WebSocket-Extensions of ", , ,"', `Sec-WebSocket-Extensions: ${', '.repeat(7000)}\r\n`, [101, 400]],
    ['14 KB Sec-WebSocket-Extensions of quoted strings', `Sec-WebSocket-Extensions: x; y="${'\\a'.repeat(7000)}\r\n`, [101, 400]],
    [
      'extension names that are Object.prototype members',
      'Sec-WebSocket-Extensions: constructor, __proto__; __proto__=1, hasOwnProperty; toString="x", permessage-deflate; constructor\r\n',
      [101, 400],
    ],
  ];
  for (const path of ENDPOINTS) {
    for (const [what, headers, statuses] of cases) {
      const answer = await rawExchange(s.port, upgradeRequest(s.port, path, headers), ANSWER_WITHIN_MS);
      t.ok(statuses.includes(answer.status), `${path}, ${what}: HTTP ${answer.status} (expected ${statuses.join(' or ')})`);
      t.ok(answer.status === 101 || answer.closed, `${path}, ${what}: a refused upgrade's socket is closed`);
    }
    await stillChatting(t, s.url, `hostile upgrades to ${path}`);
  }
});

t.test('a WebSocket that uses an Object.prototype name as an extension still works', async (t) => {
  const s = await startServer({ maxMessageSize: MAX });
  t.teardown(() => s.close());
  for (const path of ENDPOINTS) {
    const ws = await RawWebSocket.open(s.port, path, 'Sec-WebSocket-Extensions: constructor; __proto__=1, hasOwnProperty\r\n');
    ws.write(frame({ opcode: CLOSE, payload: Buffer.from([0x03, 0xe8]) }));
    t.equal(await ws.closeCode(), 1000, `${path}: upgraded, and closes normally`);
  }
});

/** Frames, the close code each endpoint answers with (RFC 6455 section 7.4.1), and where one endpoint differs. */
const attacks: Array<{ what: string; frames: () => Buffer[]; code: number; sockjs?: number }> = [
  { what: 'RSV1 set with no extension negotiated', frames: () => [frame({ opcode: TEXT, rsv: 4, payload: Buffer.from('{}') })], code: 1002 },
  { what: 'RSV2 set', frames: () => [frame({ opcode: TEXT, rsv: 2, payload: Buffer.from('{}') })], code: 1002 },
  { what: 'RSV3 set', frames: () => [frame({ opcode: TEXT, rsv: 1, payload: Buffer.from('{}') })], code: 1002 },
  { what: 'all reserved bits on a ping', frames: () => [frame({ opcode: PING, rsv: 7 })], code: 1002 },
  { what: 'a reserved opcode (0x3)', frames: () => [frame({ opcode: 0x3, payload: Buffer.from('x') })], code: 1002 },
  {
    what: 'a declared length of 2^63-1',
    frames: () => [frame({ opcode: TEXT, declared: 2n ** 63n - 1n, payload: Buffer.from('{"cmd":"ping"}') })],
    code: 1009,
  },
  {
    what: 'a declared length just over the message size',
    frames: () => [frame({ opcode: TEXT, declared: BigInt(MAX + 1), payload: Buffer.alloc(16, 0x20) })],
    code: 1009,
  },
  {
    what: 'a flood of one-byte fragments never finished, past the message size',
    frames: () => [
      frame({ opcode: TEXT, fin: false, payload: Buffer.from('[') }),
      ...Array.from({ length: MAX * 3 }, () => frame({ opcode: CONTINUATION, fin: false, payload: Buffer.from(' ') })),
    ],
    code: 1009,
  },
  { what: 'a ping of 126 bytes (control frames carry at most 125)', frames: () => [frame({ opcode: PING, payload: Buffer.alloc(126, 0x61) })], code: 1002 },
  { what: 'a close of 200 bytes', frames: () => [frame({ opcode: CLOSE, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(198, 0x61)]) })], code: 1002 },
  { what: 'a fragmented ping', frames: () => [frame({ opcode: PING, fin: false, payload: Buffer.from('p') })], code: 1002 },
  { what: 'a continuation with nothing to continue', frames: () => [frame({ opcode: CONTINUATION, payload: Buffer.from('x') })], code: 1002 },
  // RFC 6455 section 5.1: the server closes; it MAY say 1002. faye-websocket says 1003 (unacceptable data).
  { what: 'an unmasked client frame', frames: () => [frame({ opcode: TEXT, mask: false, payload: Buffer.from('{"cmd":"ping"}') })], code: 1002, sockjs: 1003 },
  { what: 'invalid UTF-8 in a text frame (0xff)', frames: () => [frame({ opcode: TEXT, payload: Buffer.from([0x22, 0xff, 0xfe, 0x22]) })], code: 1007 },
  { what: 'an overlong UTF-8 encoding (0xc0 0xae)', frames: () => [frame({ opcode: TEXT, payload: Buffer.from([0x22, 0xc0, 0xae, 0x22]) })], code: 1007 },
  { what: 'a UTF-16 surrogate encoded in UTF-8 (0xed 0xa0 0x80)', frames: () => [frame({ opcode: TEXT, payload: Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]) })], code: 1007 },
  {
    what: 'invalid UTF-8 split across fragments',
    frames: () => [frame({ opcode: TEXT, fin: false, payload: Buffer.from([0x22, 0xe2]) }), frame({ opcode: CONTINUATION, payload: Buffer.from([0x28, 0xa1, 0x22]) })],
    code: 1007,
  },
  { what: 'a close frame with invalid code 999', frames: () => [frame({ opcode: CLOSE, payload: Buffer.from([0x03, 0xe7]) })], code: 1002 },
];

t.test('hostile frames get their close code and the connection is closed', async (t) => {
  const s = await startServer({ maxMessageSize: MAX });
  t.teardown(() => s.close());
  for (const path of ENDPOINTS) {
    for (const attack of attacks) {
      const ws = await RawWebSocket.open(s.port, path);
      for (const f of attack.frames()) ws.write(f);
      const code = path === '/ws' ? attack.code : (attack.sockjs ?? attack.code);
      t.equal(await ws.closeCode(), code, `${path}: ${attack.what}: ${code}`);
    }
    await stillChatting(t, s.url, `hostile frames on ${path}`);
    t.equal(s.server.hub.connectionCount, 0, `${path}: every attacking connection left the core`);
  }
});
