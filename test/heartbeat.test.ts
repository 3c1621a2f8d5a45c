import t from 'tap';
import type { Connection } from '../src/core/connection.js';
import { Heartbeat } from '../src/core/heartbeat.js';
import type { ByeCode } from '../src/errors.js';

const T0 = 1_700_000_000_000;
const INTERVAL = 25_000;
const TIMEOUT = 20_000;

/** The parts of a Connection the heartbeat touches. */
class FakeConn {
  pings = 0;
  byes: ByeCode[] = [];
  lastPingAt = T0;
  awaitingPongSince = 0;
  readonly transport: { ping?: () => void };

  constructor(withPing = true) {
    this.transport = withPing ? { ping: () => { this.pings++; } } : {};
  }

  bye(code: ByeCode): void {
    this.byes.push(code);
  }

  /** What Connection.pong() and Connection.message() do. */
  activity(): void {
    this.awaitingPongSince = 0;
  }
}

function setup(...conns: FakeConn[]): Heartbeat {
  return new Heartbeat(conns as unknown as Iterable<Connection>, INTERVAL, TIMEOUT);
}

t.test('a ping is due once the interval has passed since the last one', async (tt) => {
  const c = new FakeConn();
  const hb = setup(c);
  hb.tick(T0 + INTERVAL - 1);
  tt.equal(c.pings, 0, 'not before the interval');
  hb.tick(T0 + INTERVAL);
  tt.equal(c.pings, 1, 'pinged at the interval');
  tt.equal(c.lastPingAt, T0 + INTERVAL);
  tt.equal(c.awaitingPongSince, T0 + INTERVAL, 'now waiting for the pong');
  hb.tick(T0 + INTERVAL + 1000);
  tt.equal(c.pings, 1, 'no second ping while one is outstanding');
  tt.same(c.byes, []);
});

t.test('no pong within the timeout ends the connection with heartbeat_timeout', async (tt) => {
  const c = new FakeConn();
  const hb = setup(c);
  hb.tick(T0 + INTERVAL);
  hb.tick(T0 + INTERVAL + TIMEOUT);
  tt.same(c.byes, [], 'exactly at the timeout it still waits');
  hb.tick(T0 + INTERVAL + TIMEOUT + 1);
  tt.same(c.byes, ['heartbeat_timeout']);
  tt.equal(c.pings, 1);
});

t.test('a pong (or any message) resets the wait, and the next ping comes an interval later', async (tt) => {
  const c = new FakeConn();
  const hb = setup(c);
  const p1 = T0 + INTERVAL;
  hb.tick(p1);
  c.activity();
  hb.tick(p1 + TIMEOUT + 1000);
  tt.same(c.byes, [], 'answered: not dropped');
  tt.equal(c.pings, 1, 'the next ping is not due yet');
  hb.tick(p1 + INTERVAL);
  tt.equal(c.pings, 2, 'pinged again one interval after the previous ping');
  hb.tick(p1 + INTERVAL + TIMEOUT + 1);
  tt.same(c.byes, ['heartbeat_timeout'], 'the second ping unanswered ends it');
});

t.test('transports without ping (Comet) are skipped', async (tt) => {
  const comet = new FakeConn(false);
  comet.awaitingPongSince = T0;
  const ws = new FakeConn();
  const hb = setup(comet, ws);
  hb.tick(T0 + 10 * INTERVAL);
  hb.tick(T0 + 20 * INTERVAL);
  tt.equal(comet.pings, 0);
  tt.same(comet.byes, [], 'never timed out');
  tt.equal(comet.lastPingAt, T0, 'its state is left alone');
  tt.equal(ws.pings, 1);
  tt.same(ws.byes, ['heartbeat_timeout']);
});

t.test('each connection runs on its own schedule', async (tt) => {
  const a = new FakeConn();
  const b = new FakeConn();
  b.lastPingAt = T0 + 10_000;
  const hb = setup(a, b);
  hb.tick(T0 + INTERVAL);
  tt.same([a.pings, b.pings], [1, 0]);
  hb.tick(T0 + INTERVAL + 10_000);
  tt.same([a.pings, b.pings], [1, 1]);
  a.activity();
  hb.tick(T0 + INTERVAL + TIMEOUT + 10_001);
  tt.same(a.byes, [], 'a answered');
  tt.same(b.byes, ['heartbeat_timeout'], 'b did not');
});

t.test('start and stop manage a timer that does not keep the process alive', async (tt) => {
  const hb = setup();
  hb.start();
  hb.stop();
  hb.stop();
  tt.pass('stop is idempotent');
});
