import t from 'tap';
import { guestId } from '../src/auth/guest.js';
import { ProtocolError } from '../src/errors.js';
import { decode, errorRef, validName, type Command } from '../src/core/validate.js';
import type { Frame } from '../src/types.js';

/** An assertion label in plain ASCII: U+2028 and friends would break the TAP stream. */
function label(v: unknown): string {
  return (JSON.stringify(v) ?? String(v)).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const limits = { maxTextLength: 4096 };

/** The protocol code decode() refuses a frame with, or 'ok'. */
function code(frame: Frame, lim = limits): string {
  try {
    decode(frame, lim);
    return 'ok';
  } catch (err) {
    if (err instanceof ProtocolError) return err.code;
    throw err;
  }
}

function ok(frame: Frame): Command {
  return decode(frame, limits);
}

/** A frame as JSON.parse builds it, so that `__proto__` stays an own key. */
function parsed(json: string): Frame {
  return JSON.parse(json) as Frame;
}

const ASTRAL = '\u{1F600}';
const send = (extra: Record<string, unknown>): Frame => ({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'hi', cid: 'c1', ...extra });

t.test('unknown commands get unknown_cmd', async (tt) => {
  for (const cmd of ['nope', '', 'LOGIN', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    tt.equal(code({ cmd }), 'unknown_cmd', label(cmd));
  }
});

t.test('login: name rules', async (tt) => {
  const l = ok({ cmd: 'login', name: '  Alice  ' });
  tt.equal(l.cmd === 'login' && l.name, 'Alice', 'trimmed');
  tt.equal(code({ cmd: 'login', name: 'x'.repeat(32) }), 'ok');
  tt.equal(code({ cmd: 'login', name: 'x'.repeat(33) }), 'bad_request');
  tt.equal(code({ cmd: 'login', name: ASTRAL.repeat(32) }), 'ok', '32 astral code points (64 UTF-16 units)');
  tt.equal(code({ cmd: 'login', name: ASTRAL.repeat(33) }), 'bad_request');
  tt.equal(code({ cmd: 'login', name: ` ${'y'.repeat(32)}\t` }), 'ok', 'length counted after trim');
  for (const name of ['', '   ', 'a\u0000b', 'a\nb', 'tab\there', '\u007f', 'a\u0085', 'a\u2028b', 'a\u2029b']) {
    tt.equal(code({ cmd: 'login', name }), 'bad_request', label(name));
  }
  tt.equal(code({ cmd: 'login', name: 'a\uD800' }), 'bad_request', 'lone high surrogate');
  tt.equal(code({ cmd: 'login', name: '\uDC00a' }), 'bad_request', 'lone low surrogate');
  tt.equal(code({ cmd: 'login' }), 'bad_request', 'no name and no token');
  tt.equal(code({ cmd: 'login', name: 42 }), 'bad_request');
  tt.equal(code({ cmd: 'login', name: null }), 'bad_request');
  tt.equal(code({ cmd: 'login', name: ['Alice'] }), 'bad_request');
  tt.equal(validName(' Bob '), 'Bob');
  tt.equal(validName('\u0007'), undefined);
});

t.test('login: token, avatar', async (tt) => {
  const l = ok({ cmd: 'login', token: 'abc' });
  tt.same(l.cmd === 'login' && [l.name, l.token], [undefined, 'abc'], 'a token alone is enough');
  tt.equal(code({ cmd: 'login', token: 5 }), 'bad_request');
  tt.equal(code({ cmd: 'login', token: 'abc', name: 7 }), 'bad_request', 'a name given must still be valid');
  tt.equal(code({ cmd: 'login', name: 'A', avatar: 'cat' }), 'ok', 'built-in id');
  tt.equal(code({ cmd: 'login', name: 'A', avatar: 'https://example.com/a.png' }), 'ok');
  tt.equal(code({ cmd: 'login', name: 'A', avatar: 'HTTP://example.com/a.png' }), 'ok', 'scheme is case-insensitive');
  for (const avatar of ['javascript:alert(1)', 'data:image/png;base64,AAAA', 'ftp://x/a.png', '//example.com/a.png', 'https://', 'not-a-builtin', '', 'Cat', `https://e.com/${'a'.repeat(600)}`, 3]) {
    tt.equal(code({ cmd: 'login', name: 'A', avatar }), 'bad_request', label(avatar).slice(0, 40));
  }
});

t.test('login: resume cursors', async (tt) => {
  const l = ok({ cmd: 'login', name: 'A', resume: { cursors: { 'room:lobby': 3, 'dm:a:b': 0, 'room:BAD': 1, 'dm:b:a': 1, junk: 2 } } });
  tt.ok(l.cmd === 'login');
  if (l.cmd !== 'login') return;
  tt.same([...l.cursors], [['room:lobby', 3], ['dm:a:b', 0]], 'malformed channels are ignored, not refused');
  const none = ok({ cmd: 'login', name: 'A' });
  tt.equal(none.cmd === 'login' && none.cursors.size, 0);
  tt.equal(code({ cmd: 'login', name: 'A', resume: null }), 'ok');
  tt.equal(code({ cmd: 'login', name: 'A', resume: {} }), 'ok');
  for (const resume of [5, 'x', [], { cursors: [] }, { cursors: 'x' }, { cursors: null }, { cursors: { 'room:a': -1 } },
    { cursors: { 'room:a': 1.5 } }, { cursors: { 'room:a': '3' } }, { cursors: { 'room:a': Number.MAX_SAFE_INTEGER + 1 } },
    { cursors: { 'room:a': null } }]) {
    tt.equal(code({ cmd: 'login', name: 'A', resume }), 'bad_request', label(resume));
  }
  const many: Record<string, number> = {};
  for (let i = 0; i < 1001; i++) many[`room:r${i}`] = 1;
  tt.equal(code({ cmd: 'login', name: 'A', resume: { cursors: many } }), 'bad_request', 'too many cursors');
});

t.test('send: valid shapes', async (tt) => {
  const s = ok(send({ body: 'hello' }));
  tt.same(s, { cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'hello', cid: 'c1' });
  tt.same(ok(send({ to: { user: 'alice' } })), { cmd: 'send', to: { user: 'alice' }, type: 'text', body: 'hi', cid: 'c1' });
  tt.equal(code(send({ to: { user: 'üml%20aut' } })), 'ok', 'non-ASCII and percent-encoded ids');
  tt.equal(code(send({ type: 'emoji', body: 'smile' })), 'ok');
  tt.equal(code(send({ type: 'emoji', body: ':thumbsup:' })), 'ok');
  tt.equal(code(send({ type: 'emoji', body: '\u{1F44D}\u{1F3FD}' })), 'ok', 'a glyph with a skin tone');
  tt.equal(code(send({ type: 'image', body: '/uploads/abcdefgh12.png' })), 'ok');
  tt.equal(code(send({ cid: 'x'.repeat(64) })), 'ok');
  tt.equal(code(send({ cid: ASTRAL.repeat(64) })), 'ok', 'cid length in code points');
});

t.test('send: text length is counted in code points', async (tt) => {
  tt.equal(code(send({ body: 'a'.repeat(4096) })), 'ok');
  tt.equal(code(send({ body: 'a'.repeat(4097) })), 'too_large');
  tt.equal(code(send({ body: ASTRAL.repeat(4096) })), 'ok', '4096 astral characters are 8192 UTF-16 units, still OK');
  tt.equal(code(send({ body: ASTRAL.repeat(4097) })), 'too_large');
  tt.equal(code(send({ body: 'abcd' }), { maxTextLength: 3 }), 'too_large', 'the configured limit applies');
  tt.equal(code(send({ body: 'a\uD83D' })), 'bad_request', 'lone surrogate in a body');
  tt.equal(code(send({ body: '' })), 'bad_request');
  tt.equal(code(send({ body: ' \n\t ' })), 'bad_request', 'blank text');
  tt.equal(code(send({ body: 5 })), 'bad_request');
});

t.test('send: invalid shapes', async (tt) => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['no cid', { cid: undefined }],
    ['empty cid', { cid: '' }],
    ['long cid', { cid: 'x'.repeat(65) }],
    ['numeric cid', { cid: 1 }],
    ['lone surrogate cid', { cid: '\uDFFF' }],
    ['no to', { to: undefined }],
    ['to string', { to: 'lobby' }],
    ['to array', { to: ['lobby'] }],
    ['to null', { to: null }],
    ['to empty', { to: {} }],
    ['to both', { to: { room: 'lobby', user: 'a' } }],
    ['room upper', { to: { room: 'Lobby' } }],
    ['room too long', { to: { room: 'r'.repeat(33) } }],
    ['room number', { to: { room: 1 } }],
    ['user with colon', { to: { user: 'a:b' } }],
    ['user with space', { to: { user: 'a b' } }],
    ['user empty', { to: { user: '' } }],
    ['other key', { to: { channel: 'room:lobby' } }],
    ['type', { type: 'video' }],
    ['no type', { type: undefined }],
    ['emoji unknown', { type: 'emoji', body: 'notanemoji' }],
    ['emoji text', { type: 'emoji', body: 'hello \u{1F600}' }],
    ['image elsewhere', { type: 'image', body: 'https://evil.example/x.png' }],
    ['image traversal', { type: 'image', body: '/uploads/../secret.png' }],
    ['image ext', { type: 'image', body: '/uploads/abcdefgh12.svg' }],
  ];
  for (const [what, extra] of bad) tt.equal(code(send(extra)), 'bad_request', what);
});

t.test('NUL is refused in every client string, as PostgreSQL would refuse to store it', async (tt) => {
  const frames: Array<[string, Frame]> = [
    ['login name', { cmd: 'login', name: 'a\u0000b' }],
    ['login token', { cmd: 'login', token: 'abc\u0000' }],
    ['login avatar', { cmd: 'login', name: 'A', avatar: 'https://example.com/a\u0000.png' }],
    ['send body', send({ body: 'a\u0000b' })],
    ['send body, NUL alone', send({ body: '\u0000' })],
    ['send cid', send({ cid: 'c\u0000' })],
    ['send to.user', send({ to: { user: 'bo\u0000b' } })],
    ['join room', { cmd: 'join', room: 'lobby\u0000' }],
    ['leave room', { cmd: 'leave', room: 'lobby\u0000' }],
    ['history channel', { cmd: 'history', channel: 'dm:a\u0000:b' }],
    ['online room', { cmd: 'online', room: '\u0000' }],
    ['typing to.user', { cmd: 'typing', to: { user: '\u0000' } }],
  ];
  for (const [what, frame] of frames) tt.equal(code(frame), 'bad_request', what);
  tt.equal(code(send({ body: 'a\u0001b' })), 'ok', 'other control characters in a text body are still taken');
});

t.test('errorRef echoes only a cid the protocol allows, so the echo is bounded', async (tt) => {
  tt.equal(errorRef(send({ cid: 'c1' })), 'c1');
  tt.equal(errorRef(send({ cid: 'x'.repeat(64) })), 'x'.repeat(64), '64 characters');
  tt.equal(errorRef(send({ cid: ASTRAL.repeat(64) })), ASTRAL.repeat(64), '64 astral code points');
  for (const [what, cid] of [
    ['65 characters', 'x'.repeat(65)],
    ['60,000 characters', 'x'.repeat(60000)],
    ['empty', ''],
    ['a number', 7],
    ['a lone surrogate', '\uD800'],
    ['a NUL', 'c\u0000'],
    ['absent', undefined],
  ] as Array<[string, unknown]>) {
    tt.equal(errorRef(send({ cid })), 'send', `a cid that is ${what}: the cmd instead`);
  }
  tt.equal(errorRef({ cmd: 'join', cid: 'c1' }), 'join', 'only a send echoes its cid');
  tt.equal(errorRef({ cmd: 'z'.repeat(1000) }), 'z'.repeat(64), 'a cmd is cut to 64');
});

t.test('every valid guest name gives an id that `to.user` accepts', async (tt) => {
  // docs/protocol.md 2/3: names are 1-32 characters with no control characters; white space inside is allowed.
  for (const name of ['Alice', 'a b', 'x:y', '100%', 'a' + '\u3000'.repeat(30) + 'b', ':'.repeat(32)]) {
    tt.equal(validName(name), name, `${label(name)} is a valid name`);
    tt.equal(code(send({ to: { user: guestId(name) } })), 'ok', `DM to the guest ${label(name)}`);
    tt.equal(code({ cmd: 'typing', to: { user: guestId(name) } }), 'ok', `typing to the guest ${label(name)}`);
  }
});

t.test('join, leave, online, status, typing, ping, logout', async (tt) => {
  tt.same(ok({ cmd: 'join', room: 'lobby' }), { cmd: 'join', room: 'lobby' });
  tt.same(ok({ cmd: 'leave', room: 'a_b-9' }), { cmd: 'leave', room: 'a_b-9' });
  for (const room of ['', 'Lobby', 'a b', 'r'.repeat(33), 'é', 5, undefined, 'room:lobby']) {
    tt.equal(code({ cmd: 'join', room }), 'bad_request', `join ${String(room)}`);
    tt.equal(code({ cmd: 'leave', room }), 'bad_request', `leave ${String(room)}`);
  }
  tt.same(ok({ cmd: 'online' }), { cmd: 'online', room: undefined });
  tt.same(ok({ cmd: 'online', room: 'lobby' }), { cmd: 'online', room: 'lobby' });
  tt.equal(code({ cmd: 'online', room: 'NO' }), 'bad_request');
  for (const status of ['online', 'away', 'busy']) tt.equal(code({ cmd: 'status', status }), 'ok', status);
  for (const status of ['offline', '', undefined, 1, 'AWAY']) tt.equal(code({ cmd: 'status', status }), 'bad_request', String(status));
  tt.same(ok({ cmd: 'typing', to: { user: 'bob' } }), { cmd: 'typing', to: { user: 'bob' } });
  tt.equal(code({ cmd: 'typing', to: { room: 'Nope' } }), 'bad_request');
  tt.equal(code({ cmd: 'typing' }), 'bad_request');
  tt.same(ok({ cmd: 'ping', ts: 123 }), { cmd: 'ping', ts: 123 });
  tt.same(ok({ cmd: 'ping' }), { cmd: 'ping', ts: undefined });
  tt.same(ok({ cmd: 'logout', extra: 1 }), { cmd: 'logout' });
});

t.test('history: channel, before, limit', async (tt) => {
  tt.same(ok({ cmd: 'history', channel: 'room:lobby' }), { cmd: 'history', channel: 'room:lobby', before: undefined, limit: 50 });
  tt.same(ok({ cmd: 'history', channel: 'dm:a:b', before: 10, limit: 100 }), { cmd: 'history', channel: 'dm:a:b', before: 10, limit: 100 });
  tt.equal(code({ cmd: 'history', channel: 'room:lobby', limit: 1 }), 'ok');
  tt.equal(code({ cmd: 'history', channel: 'room:lobby', limit: null }), 'ok', 'null limit is the default');
  for (const limit of [0, 101, -1, 1.5, '10', true]) {
    tt.equal(code({ cmd: 'history', channel: 'room:lobby', limit }), 'bad_request', `limit ${String(limit)}`);
  }
  for (const before of [0, -3, 2.5, '4']) {
    tt.equal(code({ cmd: 'history', channel: 'room:lobby', before }), 'bad_request', `before ${String(before)}`);
  }
  for (const channel of ['lobby', 'room:', 'room:Lobby', 'dm:b:a', 'dm:a', 'dm:a:b:c', 'dm::a', '', 7]) {
    tt.equal(code({ cmd: 'history', channel }), 'bad_request', `channel ${String(channel)}`);
  }
});

t.test('__proto__ and constructor keys change nothing', async (tt) => {
  tt.equal(code(parsed('{"cmd":"send","to":{"__proto__":{"room":"lobby"}},"type":"text","body":"x","cid":"c"}')), 'bad_request');
  tt.equal(code(parsed('{"cmd":"send","to":{"constructor":{"room":"lobby"}},"type":"text","body":"x","cid":"c"}')), 'bad_request');
  tt.equal(code(parsed('{"cmd":"send","to":{"room":"lobby"},"type":"text","body":"x","cid":"c","__proto__":{"cid":"z"}}')), 'ok');
  const l = ok(parsed('{"cmd":"login","name":"A","resume":{"cursors":{"__proto__":5,"constructor":3,"room:lobby":2}}}'));
  tt.ok(l.cmd === 'login' && l.cursors.size === 1 && l.cursors.get('room:lobby') === 2, 'only the real channel is kept');
  tt.equal(code(parsed('{"cmd":"login","name":"A","resume":{"__proto__":{"cursors":{"room:a":1}}}}')), 'ok');
  const l2 = ok(parsed('{"cmd":"login","name":"A","resume":{"__proto__":{"cursors":{"room:a":1}}}}'));
  tt.equal(l2.cmd === 'login' && l2.cursors.size, 0, 'cursors hidden behind __proto__ are not picked up');
  tt.equal(code(parsed('{"cmd":"login","__proto__":{"name":"A"}}')), 'bad_request', 'a name behind __proto__ does not count');
  tt.equal(({} as Record<string, unknown>).room, undefined, 'Object.prototype is untouched');
});
