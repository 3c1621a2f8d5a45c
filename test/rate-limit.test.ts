import t from 'tap';
import { TokenBucket } from '../src/core/rate-limit.js';

const T0 = 1_700_000_000_000;

/** How many takes succeed in a row at one instant. */
function drain(b: TokenBucket, now: number, max = 1000): number {
  let n = 0;
  while (n < max && b.take(now)) n++;
  return n;
}

t.test('a full bucket allows the burst, then refuses', async (tt) => {
  const b = new TokenBucket(20, 40, T0);
  tt.equal(drain(b, T0), 40, 'burst of 40');
  tt.equal(b.take(T0), false, 'the 41st at the same instant is refused');
  tt.equal(b.take(T0), false, 'and stays refused');
});

t.test('tokens refill with elapsed time at `rate` per second', async (tt) => {
  const b = new TokenBucket(20, 40, T0);
  drain(b, T0);
  tt.equal(b.take(T0 + 49), false, '49 ms is less than one token at 20/s');
  tt.equal(b.take(T0 + 50), true, '50 ms is one token');
  tt.equal(b.take(T0 + 50), false);
  tt.equal(drain(b, T0 + 550), 10, '500 ms later: 10 tokens');
  tt.equal(drain(b, T0 + 1550), 20, 'one more second: 20 tokens');
});

t.test('fractional refills accumulate across calls', async (tt) => {
  const b = new TokenBucket(1, 1, T0);
  tt.equal(b.take(T0), true);
  tt.equal(b.take(T0 + 400), false);
  tt.equal(b.take(T0 + 800), false);
  tt.equal(b.take(T0 + 1000), true, 'the partial refills of refused calls are not lost');
});

t.test('an idle bucket refills only up to the burst', async (tt) => {
  const b = new TokenBucket(20, 5, T0);
  drain(b, T0);
  tt.equal(drain(b, T0 + 3_600_000), 5, 'an hour idle still gives only the burst');
  tt.equal(b.take(T0 + 3_600_000), false);
});

t.test('a starting bucket is full; a clock going backwards adds nothing', async (tt) => {
  const b = new TokenBucket(10, 3, T0);
  tt.equal(drain(b, T0 - 5000), 3, 'full at start');
  tt.equal(b.take(T0 - 10_000), false, 'no refill for negative elapsed time');
  tt.equal(b.take(T0 + 100), true, 'time moving forward again refills');
});

t.test('steady sending at the rate is never refused', async (tt) => {
  const b = new TokenBucket(20, 2, T0);
  let refused = 0;
  for (let i = 1; i <= 200; i++) if (!b.take(T0 + i * 50)) refused++;
  tt.equal(refused, 0, '200 messages, one every 50 ms');
  let sent = 0;
  for (let i = 0; i < 100; i++) if (b.take(T0 + 10_000 + i * 10)) sent++;
  tt.ok(sent >= 20 && sent <= 22, `sending at five times the rate for 1 s gets about the rate through (${sent})`);
});
