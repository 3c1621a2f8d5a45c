/**
 * fast-check generators of hostile client frames for the protocol fuzz
 * test. Frames are built as JSON *text*, not objects, so that what reaches
 * the server can hold what JSON.stringify would never write: duplicate keys
 * (the last one wins), `__proto__` as a plain key, numbers such as `1e999`
 * (Infinity once parsed), `-0` and 2^53+1, and nesting thousands of levels
 * deep. Strings carry NUL, lone surrogates (as `\ud800` escapes) and line
 * separators.
 */
import fc from 'fast-check';

/** Every command of docs/protocol.md section 2. */
export const COMMANDS = ['login', 'send', 'join', 'leave', 'history', 'online', 'status', 'typing', 'ping', 'logout'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** Replaced at send time by the JSON string of a token the server issued, so that a valid token can be fuzzed too. */
export const TOKEN_PLACEHOLDER = '"@@TOKEN@@"';

const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'cmd', 'to', 'room', 'user'];

const numberText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '1e308', '-1e308', '1e999', '-1e999', '-0', '0', '0.5', '-1', '1E+2', '5e-324',
    '9007199254740991', '9007199254740993', '-9007199254740993', '100000000000000000000000000',
  ),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
);

const stringValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.constantFrom(
    '', ' ', '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\udc00\ud800', '\u2028', '\u202e', '\t',
    'NaN', 'Infinity', '-0', '1e308', '__proto__', 'constructor', 'lobby', 'room:lobby', 'dm:fuzzer:peer',
    'x'.repeat(5000),
  ),
);

const stringText = stringValue.map((s) => JSON.stringify(s));
const scalarText = fc.oneof(fc.constantFrom('null', 'true', 'false'), numberText, stringText);
const keyText = fc.oneof(fc.constantFrom(...SPECIAL_KEYS), fc.string({ maxLength: 8 })).map((k) => JSON.stringify(k));

/** Arrays or objects nested far deeper than any command (the server refuses past 16 levels). */
export const deepText: fc.Arbitrary<string> = fc
  .record({ depth: fc.constantFrom(17, 100, 1000, 10000, 20000), array: fc.boolean() })
  .map(({ depth, array }) => (array ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(Math.floor(depth / 4)) + '1' + '}'.repeat(Math.floor(depth / 4))));

/** Any JSON value, as text. */
export const valueText: fc.Arbitrary<string> = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    { arbitrary: scalarText, weight: 12 },
    { arbitrary: tie('array'), weight: 2 },
    { arbitrary: tie('object'), weight: 2 },
    { arbitrary: deepText, weight: 1 },
  ),
  array: fc.array(tie('value'), { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
  object: fc.array(fc.tuple(keyText, tie('value')), { maxLength: 4 }).map((es) => `{${es.map(([k, v]) => `${k}:${v}`).join(',')}}`),
})).value;

const s = (...values: string[]): fc.Arbitrary<string> => fc.constantFrom(...values.map((v) => JSON.stringify(v)));
const target = fc.constantFrom('{"room":"lobby"}', '{"room":"fuzz-room"}', '{"room":"nope-nope"}', '{"user":"peer"}', '{"user":"fuzzer"}', '{"user":"nobody-here"}', '{"room":"lobby","user":"peer"}');
const room = s('lobby', 'fuzz-room', 'a_b-1', 'Lobby', 'no room');
const offset = fc.oneof(fc.integer({ min: 1, max: 200 }).map(String), fc.constant('0'));

/** Well-formed values for each field of each command; the fuzzer mixes them with hostile ones. */
const FIELDS: Record<CommandName, Record<string, fc.Arbitrary<string>>> = {
  login: {
    name: s('Fuzzer', 'Peer', 'Newcomer', '  Spaced  ', 'x'.repeat(33), '\u{1F600}'),
    avatar: s('cat', 'https://example.com/a.png', 'javascript:alert(1)'),
    token: fc.constantFrom(TOKEN_PLACEHOLDER, '"eyJhbGciOiJub25lIn0.e30."', '"not-a-token"'),
    resume: fc.constantFrom('{"cursors":{"room:lobby":0}}', '{"cursors":{"dm:fuzzer:peer":1,"room:nope":5}}', '{"cursors":{"room:lobby":-1}}'),
  },
  send: {
    to: target,
    type: s('text', 'text', 'text', 'emoji', 'image'),
    body: s('hello', 'hello', ':smile:', '/uploads/abcdefgh.png', ' ', 'a\u0000b'),
    cid: fc.string({ minLength: 1, maxLength: 64 }).map((c) => JSON.stringify(c)),
  },
  join: { room },
  leave: { room },
  history: {
    channel: s('room:lobby', 'room:fuzz-room', 'room:nope-nope', 'dm:fuzzer:peer', 'dm:a:b', 'dm:fuzzer', 'lobby'),
    before: offset,
    limit: fc.oneof(fc.integer({ min: 1, max: 100 }).map(String), fc.constantFrom('0', '101')),
  },
  online: { room },
  status: { status: s('online', 'away', 'busy', 'offline') },
  typing: { to: target },
  ping: { ts: fc.oneof(fc.integer().map(String), stringText) },
  logout: {},
};

/** A field: left out, well-formed, or any value at all. */
function field(name: string, valid: fc.Arbitrary<string>): fc.Arbitrary<string | undefined> {
  return fc
    .oneof({ arbitrary: fc.constant(undefined), weight: 1 }, { arbitrary: valid, weight: 8 }, { arbitrary: valueText, weight: 2 })
    .map((v) => (v === undefined ? undefined : `${JSON.stringify(name)}:${v}`));
}

/** A command of the protocol with each field well-formed, wrong or missing, and extra (special) keys around it. */
export const commandText: fc.Arbitrary<string> = fc.constantFrom(...COMMANDS).chain((cmd) =>
  fc
    .record({
      cmd: fc.oneof({ arbitrary: fc.constant(JSON.stringify(cmd)), weight: 8 }, { arbitrary: valueText, weight: 1 }),
      fields: fc.tuple(...Object.entries(FIELDS[cmd]).map(([name, valid]) => field(name, valid))),
      before: fc.array(fc.tuple(keyText, valueText), { maxLength: 1 }),
      after: fc.array(fc.tuple(keyText, valueText), { maxLength: 1 }),
    })
    .map(({ cmd: c, fields, before, after }) => {
      const entries = [
        ...before.map(([k, v]) => `${k}:${v}`),
        `"cmd":${c}`,
        ...fields.filter((f): f is string => f !== undefined),
        ...after.map(([k, v]) => `${k}:${v}`),
      ];
      return `{${entries.join(',')}}`;
    }),
);

/** A `cmd` the protocol lacks, some of them names every object inherits. */
const unknownText = fc
  .tuple(
    fc.oneof(s('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '', 'LOGIN', 'x'.repeat(1000)), stringText),
    fc.array(fc.tuple(keyText, valueText), { maxLength: 3 }),
  )
  .map(([cmd, extra]) => `{"cmd":${cmd}${extra.map(([k, v]) => `,${k}:${v}`).join('')}}`);

const notJson = fc.oneof(
  fc.constantFrom('', ' ', '{', '{"cmd":"ping"', "{'cmd':'ping'}", '{"cmd":"ping",}', 'NaN', 'undefined', '\u0000', '{"cmd":"ping"}x', '{"cmd":"pi\u0001ng"}'),
  fc.string({ maxLength: 40 }),
);

export type FuzzFrame = { text: string } | { binary: Buffer };

/** Every kind of frame a hostile client can send on a WebSocket, heaviest on protocol commands. */
export const frame: fc.Arbitrary<FuzzFrame> = fc
  .oneof(
    { arbitrary: commandText, weight: 12 },
    { arbitrary: unknownText, weight: 2 },
    { arbitrary: valueText, weight: 2 },
    { arbitrary: notJson, weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ binary: Buffer.from(b) })), weight: 1 },
  )
  .map((f) => (typeof f === 'string' ? { text: f } : f))
  // Frames over the 64 KiB message limit close the socket with 1009: test/ws-limits.test.ts covers that.
  .filter((f) => ('text' in f ? Buffer.byteLength(f.text) : f.binary.length) < 60000);
