import t from 'tap';
import { BUILTIN_AVATARS, defaultAvatar, isBuiltinAvatar, isValidAvatar } from '../src/avatars.js';
import { EMOJI, isEmojiBody } from '../src/emoji.js';

/** An assertion label in plain ASCII: U+2028 and friends would break the TAP stream. */
function label(v: unknown): string {
  return (JSON.stringify(v) ?? String(v)).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

t.test('emoji codes of the table are valid bodies, with or without colons', async (tt) => {
  tt.ok(Object.keys(EMOJI).length > 0);
  for (const code of Object.keys(EMOJI)) {
    tt.ok(isEmojiBody(code), code);
    tt.ok(isEmojiBody(`:${code}:`), `:${code}:`);
  }
});

t.test('bare emoji glyphs are valid bodies', async (tt) => {
  for (const glyph of Object.values(EMOJI)) tt.ok(isEmojiBody(glyph), label(glyph));
  tt.ok(isEmojiBody('\u{1F44D}\u{1F3FD}'), 'with a skin tone');
  tt.ok(isEmojiBody('\u{1F469}\u200D\u{1F4BB}'), 'a ZWJ sequence');
  tt.ok(isEmojiBody('\u{1F1EB}\u{1F1F7}'), 'a flag');
  tt.ok(isEmojiBody('\u{1F600}'.repeat(16)), '16 glyphs');
  tt.notOk(isEmojiBody('\u{1F600}'.repeat(17)), 'more than 16 code points');
});

t.test('anything else is not an emoji body', async (tt) => {
  const bad = ['', 'hello', 'Smile', 'smile ', ' smile', '::', ':nope:', 'constructor', '__proto__', 'toString',
    'hasOwnProperty', '\u{1F600} hi', '<img>', '1', '#', 'a\u200Db', '\u{1F600}\n'];
  for (const body of bad) tt.notOk(isEmojiBody(body), label(body));
});

t.test('built-in avatars', async (tt) => {
  tt.ok(BUILTIN_AVATARS.length > 0);
  for (const id of BUILTIN_AVATARS) {
    tt.ok(isBuiltinAvatar(id), id);
    tt.ok(isValidAvatar(id), id);
  }
  for (const id of ['', 'Cat', 'cat ', 'unicorn', 'constructor', '__proto__', 'toString']) {
    tt.notOk(isBuiltinAvatar(id), label(id));
  }
});

t.test('avatar URLs: http(s) only, of reasonable length', async (tt) => {
  for (const ok of ['http://example.com/a.png', 'https://example.com/a.png?x=1', 'HTTPS://EXAMPLE.COM/A.PNG', 'https://1.2.3.4:8443/a']) {
    tt.ok(isValidAvatar(ok), ok);
  }
  const long = `https://example.com/${'a'.repeat(492)}`;
  tt.equal(long.length, 512);
  tt.ok(isValidAvatar(long), '512 characters');
  tt.notOk(isValidAvatar(long + 'a'), '513 characters');
  const bad = ['javascript:alert(1)', 'JavaScript://%0aalert(1)', 'data:image/png;base64,AA', 'file:///etc/passwd', 'ftp://example.com/a',
    '//example.com/a.png', '/avatars/cat.svg', 'https://', 'http://', 'https:example.com', ' https://example.com/a.png', 'blob:https://x/1',
    'https://example.com/a\u0000.png'];
  for (const url of bad) tt.notOk(isValidAvatar(url), url);
});

t.test('default avatars are built-in and stable per user id', async (tt) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const id = `user${i}`;
    const a = defaultAvatar(id);
    tt.equal(defaultAvatar(id), a, 'stable');
    if (!isBuiltinAvatar(a)) tt.fail(`${id}: ${a} is not built in`);
    seen.add(a);
  }
  tt.ok(seen.size > BUILTIN_AVATARS.length / 2, `spread over the set (${seen.size} of ${BUILTIN_AVATARS.length})`);
  tt.ok(isBuiltinAvatar(defaultAvatar('')), 'even for an empty id');
  tt.ok(isBuiltinAvatar(defaultAvatar('\u{1F600}'.repeat(100))), 'and a long one');
});
