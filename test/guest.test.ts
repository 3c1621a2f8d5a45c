import t from 'tap';
import { guestId } from '../src/auth/guest.js';

/** An assertion label in plain ASCII: U+2028 and friends would break the TAP stream. */
function label(v: unknown): string {
  return (JSON.stringify(v) ?? String(v)).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

t.test('guest ids are case-insensitive', async (tt) => {
  tt.equal(guestId('Alice'), guestId('alice'));
  tt.equal(guestId('ALICE'), 'alice');
  tt.equal(guestId('Émile'), guestId('émile'));
  tt.not(guestId('alice'), guestId('alicf'));
});

t.test('canonically equivalent names share an id (NFC)', async (tt) => {
  tt.equal(guestId('e\u0301'), guestId('\u00e9'));
  tt.equal(guestId('E\u0301'), guestId('\u00e9'));
});

t.test('ids hold no colon and no white space', async (tt) => {
  const names = ['a b', 'a:b', 'a\tb', 'a\u00a0b', 'a\u3000b', 'a\u2003b', 'a\ufeffb', 'x : y'];
  for (const name of names) {
    const id = guestId(name);
    tt.notMatch(id, /[\s:]/u, `${label(name)} -> ${label(id)}`);
    tt.ok(id.length > 0);
  }
  tt.equal(guestId('a b'), 'a%20b');
  tt.equal(guestId('a:b'), 'a%3Ab');
  tt.equal(guestId('a\u00a0b'), 'a%C2%A0b', 'multi-byte white space is encoded byte by byte');
});

t.test('different names never share an id', async (tt) => {
  tt.not(guestId('a b'), guestId('a%20b'), 'a literal percent is escaped too');
  tt.equal(guestId('100%'), '100%25');
  tt.not(guestId('a:b'), guestId('a%3Ab'));
  tt.not(guestId('a:b'), guestId('a%3ab'));
  const names = ['a b', 'a%20b', 'a%2520b', 'a:b', 'a%3Ab', 'a\tb', 'a\u00a0b', 'ab', 'a  b'];
  const ids = new Set(names.map(guestId));
  tt.equal(ids.size, names.length, 'all distinct');
});

t.test('other characters pass through unchanged', async (tt) => {
  tt.equal(guestId('bob_42-x.y'), 'bob_42-x.y');
  tt.equal(guestId('\u{1F600}cat'), '\u{1F600}cat');
  tt.equal(guestId('\u674e\u96f7'), '\u674e\u96f7');
});

t.test('every white-space character is encoded', async (tt) => {
  const spaces: string[] = [];
  for (let cp = 0; cp <= 0xffff; cp++) {
    const ch = String.fromCharCode(cp);
    if (/\s/u.test(ch)) spaces.push(ch);
  }
  tt.ok(spaces.length >= 20, `${spaces.length} white-space characters`);
  for (const ch of spaces) {
    const id = guestId(`a${ch}b`);
    if (/[\s:]/u.test(id)) tt.fail(`U+${ch.charCodeAt(0).toString(16)} left in ${id}`);
  }
  tt.pass('none left in any id');
});

t.test('the id decodes back to the folded name, so the mapping is one-to-one', async (tt) => {
  const names = ['Alice', 'a b', 'a%20b', '50% off', 'x:y:z', 'tab\tname', 'e\u0301cole', '\u3000\u674e\u3000', 'ZOË', '::%%::'];
  for (const name of names) {
    const id = guestId(name);
    tt.equal(decodeURIComponent(id), name.normalize('NFC').toLowerCase(), `${label(name)} -> ${label(id)}`);
  }
  tt.equal(guestId(guestId('a b')), 'a%2520b', 'encoding an id again changes it (percent is escaped)');
});
