import { createRequire } from 'node:module';
import t from 'tap';
import { type BatchableSession, flushNow, memoizeQuote, queueFrame } from '../transports/sockjs-batch.js';

const require = createRequire(import.meta.url);

/** A stand-in for a sockjs 0.3 session: what the batching reads and calls, with the flushes counted. */
function session(open = true): BatchableSession & { flushed: string[][] } {
  const s = {
    send_buffer: [] as string[],
    recv: open ? {} : undefined,
    flushed: [] as string[][],
    tryFlush(): void {
      s.flushed.push(s.send_buffer);
      s.send_buffer = [];
    },
  };
  return s;
}

t.test('the memoized quote answers what sockjs\'s own does', async (t) => {
  const utils = require('sockjs/lib/utils.js') as { quote(s: string): string };
  const original = utils.quote;
  memoizeQuote();
  t.not(utils.quote, original, 'patched');
  memoizeQuote();
  const texts = ['{"cmd":"message","body":"hi"}', 'line\u2028sep \u0000 "q" \\ \ud83d\ude00', '', '\u00e9\u200b\ufeff'];
  // Named by index: a raw U+2028 in a test name would split tap's output line.
  for (const [i, text] of texts.entries()) {
    t.equal(utils.quote(text), original(text), `text ${i}`);
    t.equal(utils.quote(text), original(text), `text ${i} again, from the memo`);
  }
  t.match(utils.quote(texts[1] as string), /\\u2028/, 'escapes still applied');
});

t.test('frames of one tick leave a session in one flush, in order', async (t) => {
  const a = session();
  const b = session();
  t.ok(queueFrame(a, 'm1'));
  t.ok(queueFrame(b, 'm1'));
  t.ok(queueFrame(a, 'm2'));
  t.same(a.flushed, [], 'nothing flushed within the tick');
  await new Promise((r) => process.nextTick(r));
  t.same(a.flushed, [['m1', 'm2']]);
  t.same(b.flushed, [['m1']]);
});

t.test('a session without an open request keeps its frames for the next poll', async (t) => {
  const s = session(false);
  t.ok(queueFrame(s, 'm1'));
  await new Promise((r) => process.nextTick(r));
  t.same(s.flushed, []);
  t.same(s.send_buffer, ['m1']);
});

t.test('flushNow sends what is queued at once (a bye before the close frame)', async (t) => {
  const s = session();
  queueFrame(s, 'bye');
  flushNow(s);
  t.same(s.flushed, [['bye']]);
  flushNow(s);
  t.same(s.flushed, [['bye']], 'an empty buffer is not flushed again (it would reset the heartbeat timer)');
  await new Promise((r) => process.nextTick(r));
  t.same(s.flushed, [['bye']]);
});

t.test('a session not shaped as expected is left to the caller', async (t) => {
  t.notOk(queueFrame(undefined, 'x'));
  t.notOk(queueFrame({ recv: {} }, 'x'));
  t.notOk(queueFrame({ send_buffer: [] }, 'x'), 'no tryFlush');
});
