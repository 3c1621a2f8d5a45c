import t from 'tap';
import { dmChannel, parseChannel, ROOM_NAME, roomChannel } from '../src/channels.js';

/** An assertion label in plain ASCII: U+2028 and friends would break the TAP stream. */
function label(v: unknown): string {
  return (JSON.stringify(v) ?? String(v)).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

t.test('room channels', async (tt) => {
  tt.equal(roomChannel('lobby'), 'room:lobby');
  tt.same(parseChannel('room:lobby'), { kind: 'room', room: 'lobby' });
  tt.same(parseChannel('room:a_b-9'), { kind: 'room', room: 'a_b-9' });
  tt.same(parseChannel(`room:${'r'.repeat(32)}`), { kind: 'room', room: 'r'.repeat(32) });
  for (const bad of ['room:', 'room:Lobby', `room:${'r'.repeat(33)}`, 'room:a b', 'room:a:b', 'rooms:a', 'ROOM:a', 'lobby', '', ' room:a']) {
    tt.equal(parseChannel(bad), undefined, label(bad));
  }
});

t.test('room names follow ^[a-z0-9_-]{1,32}$', async (tt) => {
  for (const ok of ['a', 'lobby', '0', '_', '-', 'a-b_c', 'x'.repeat(32)]) tt.ok(ROOM_NAME.test(ok), ok);
  for (const bad of ['', 'A', 'é', 'a.b', 'a/b', 'a\n', 'x'.repeat(33)]) tt.notOk(ROOM_NAME.test(bad), label(bad));
});

t.test('dm channels sort the two ids by UTF-16 code units', async (tt) => {
  tt.equal(dmChannel('bob', 'alice'), 'dm:alice:bob');
  tt.equal(dmChannel('alice', 'bob'), 'dm:alice:bob');
  tt.equal(dmChannel('alice', 'alice'), 'dm:alice:alice', 'a user may write to itself');
  tt.equal(dmChannel('B', 'a'), 'dm:B:a', 'upper case sorts first in code units');
  // U+FF5E (one unit) sorts after U+1F600 (surrogates D83D DE00) in UTF-16, though not in code points.
  tt.equal(dmChannel('\uff5e', '\u{1F600}'), 'dm:\u{1F600}:\uff5e');
  tt.equal(dmChannel('ab', 'a'), 'dm:a:ab', 'a prefix sorts first');
  const ids = ['zed', 'Zed', '10', '9', 'é', 'e', '\u{1F600}', '\uff5e'];
  for (const a of ids) {
    for (const b of ids) {
      const ch = dmChannel(a, b);
      tt.equal(ch, dmChannel(b, a));
      tt.same(parseChannel(ch), { kind: 'dm', users: [a, b].sort() }, `${label(a)}/${label(b)} round trip`);
    }
  }
});

t.test('malformed dm channels are refused', async (tt) => {
  for (const bad of ['dm:', 'dm:a', 'dm:a:', 'dm::a', 'dm:b:a', 'dm:a:b:c', 'dm:a::b', 'DM:a:b', 'dm']) {
    tt.equal(parseChannel(bad), undefined, label(bad));
  }
  tt.same(parseChannel('dm:a:a'), { kind: 'dm', users: ['a', 'a'] });
});

t.test('dm channels of ids that are prefixes or differ only in case stay distinct', async (tt) => {
  const pairs: Array<[string, string]> = [['a', 'ab'], ['ab', 'a'], ['A', 'a'], ['a', 'b'], ['a', 'a'], ['b', 'b'], ['a%20b', 'a']];
  const channels = new Set(pairs.map(([a, b]) => dmChannel(a, b)));
  tt.equal(channels.size, 6, '(a,ab) and (ab,a) are one conversation, every other pair its own');
  for (const ch of channels) tt.ok(parseChannel(ch), `${ch} parses`);
});

t.test('room and dm prefixes are not confused', async (tt) => {
  tt.same(parseChannel('room:dm'), { kind: 'room', room: 'dm' });
  tt.same(parseChannel('dm:room:x'), { kind: 'dm', users: ['room', 'x'] });
  tt.equal(parseChannel('room:dm:a:b'), undefined);
  tt.equal(roomChannel('dm'), 'room:dm');
});
