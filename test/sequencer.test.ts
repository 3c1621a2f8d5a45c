/**
 * src/bus/sequencer.ts: messages of a channel reach local connections in
 * offset order whatever order they arrive in; a gap is filled from the
 * store after a short wait; repeats are dropped; a gap the store cannot
 * fill is skipped after the give-up time instead of stalling the channel;
 * an idle channel nobody on the node follows is forgotten.
 */
import t from 'tap';
import { Sequencer } from '../src/bus/sequencer.js';
import type { Log } from '../src/log.js';
import { MemoryStore } from '../src/store/memory.js';
import type { StoredMessage } from '../src/types.js';

const silent = { warn: () => undefined, info: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Log; // only warn is called

async function setup(count: number, gapWait = 30, giveUp = 400, follows: (channel: string) => boolean = () => true) {
  const store = new MemoryStore();
  await store.init();
  const msgs: StoredMessage[] = [];
  for (let i = 0; i < count; i++) {
    msgs.push((await store.append({ channel: 'room:r', from: { id: 'u', name: 'U', avatar: 'a' }, to: { room: 'r' }, type: 'text', body: `m${i + 1}`, cid: `c${i + 1}` })).message);
  }
  const out: number[] = [];
  const seq = new Sequencer({ store, log: silent, gapWait, giveUp, deliver: (_ch, offset) => out.push(offset), follows });
  const frame = (m: StoredMessage) => JSON.stringify({ cmd: 'message', ...m });
  const push = (offset: number) => seq.push('room:r', offset, frame(msgs[offset - 1] as StoredMessage));
  return { store, out, seq, push };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('out-of-order arrivals are delivered in order without waiting when the gap closes', async (t) => {
  const { out, seq, push } = await setup(5);
  seq.seed('room:r', 0);
  push(2);
  push(3);
  t.same(out, [], 'held behind the missing 1');
  push(1);
  t.same(out, [1, 2, 3]);
  push(2);
  t.same(out, [1, 2, 3], 'a repeat is dropped');
  seq.close();
});

t.test('a gap that stays open is filled from the store', async (t) => {
  const { out, seq, push } = await setup(6);
  seq.seed('room:r', 0);
  push(1);
  push(4);
  push(6);
  await sleep(150);
  t.same(out, [1, 2, 3, 4, 5, 6], '2, 3 and 5 came from the store, in order');
  t.equal(seq.filled, 3);
  push(5);
  t.same(out, [1, 2, 3, 4, 5, 6], 'the late live copy is not shown twice');
  seq.close();
});

t.test('catchUp reads what was stored beyond the last delivered offset', async (t) => {
  const { out, seq, push } = await setup(4);
  seq.seed('room:r', 0);
  push(1);
  seq.catchUp('room:r');
  await sleep(50);
  t.same(out, [1, 2, 3, 4]);
  seq.catchUp('room:unknown');
  await sleep(20);
  t.same(out, [1, 2, 3, 4], 'a channel never followed is not read from its start');
  seq.close();
});

t.test('a gap the store cannot fill is skipped after the give-up time', async (t) => {
  const { out, seq } = await setup(0, 20, 150);
  seq.seed('room:r', 0);
  seq.push('room:r', 3, '{"cmd":"message","offset":3}');
  await sleep(80);
  t.same(out, [], 'still waiting');
  await sleep(250);
  t.same(out, [3], 'delivered once the gap was given up');
  seq.close();
});

t.test('an idle channel nobody here follows is forgotten, one with a gap open is kept until it closes', async (t) => {
  const followed = new Set(['room:r']);
  const { out, seq, push } = await setup(6, 10_000, 20_000, (channel) => followed.has(channel));
  seq.seed('room:r', 0);
  push(1);
  seq.seed('dm:a:b', 4);
  t.equal(seq.sweep(), 1, 'the unfollowed idle channel is forgotten');
  t.same(seq.tracked(), ['room:r'], 'the followed one stays');
  t.equal(seq.last('dm:a:b'), undefined, 'as if never seen');

  followed.delete('room:r');
  push(3);
  t.equal(seq.sweep(), 0, 'not while a message waits behind a gap');
  push(2);
  t.same(out, [1, 2, 3], 'the gap closed and delivered in order');
  t.equal(seq.sweep(), 1, 'forgotten once idle');
  push(5);
  t.same(out, [1, 2, 3], 'a message of a channel nobody follows and no state is not delivered');
  t.same(seq.tracked(), [], 'and gets no state');
  followed.add('room:r');
  push(5);
  t.same(out, [1, 2, 3, 5], 'followed again, a message starts the channel afresh, like a channel never seen');
  seq.close();
});
