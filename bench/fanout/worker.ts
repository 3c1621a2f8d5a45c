/**
 * One client process of the fan-out bench. It opens `count` connections
 * over the transport under test, logs each in as its own guest (so each is
 * a lobby member), a bounded number at a time: every login makes the
 * server tell everyone online, so logins cost O(n) each and a stampede
 * would only measure the queue. Then, per send window, it records when
 * each connection got each numbered message and reports, per message, how
 * many connections got it and the first, last and summed receive times.
 */
import { type BenchSession, type BenchTransport, openSession, useSourceAddress } from '../harness/chat-session.js';
import { Receipts, type WindowCommand, type WindowTally } from '../harness/measure.js';
import { inLanes, onParentMessages, toParent } from '../harness/worker.js';

export interface StartMsg {
  type: 'start';
  port: number;
  transport: BenchTransport;
  /** Guest names are `${prefix}${first + i}`, distinct across workers. */
  prefix: string;
  first: number;
  count: number;
  address: string;
  concurrency: number;
}
export type ToWorker = StartMsg | WindowCommand | { type: 'expect'; window: number; messages: number };
export interface WindowReport extends WindowTally {
  /** Per message: the sum of its receive times, for the mean delivery. */
  sum: number[];
  /** Receipts of a sequence number not above the connection's previous one (duplicates or reordering). */
  disorder: number;
  /** Connections that got an `error` or `bye` by now (like closed ones, they explain missing deliveries). */
  errors: number;
  firstError?: string;
  /** Connections that got none, or only some, of the window's messages. */
  starved: number;
  partial: number;
}
export type FromWorker =
  | { type: 'progress'; loggedIn: number }
  | { type: 'loggedIn'; loggedIn: number; failed: number; firstError?: string }
  | { type: 'synced'; presence: number; errors: number; firstError?: string }
  | { type: 'expecting'; window: number }
  | WindowReport;

/** Bodies are `fan/<window>/<seq> ` and filler; this is the prefix of a window's. */
export const bodyPrefix = (window: number): string => `fan/${window}/`;

const sessions: BenchSession[] = [];

const send = (msg: FromWorker): void => toParent(msg);

async function logIn(start: StartMsg): Promise<void> {
  const failures = await inLanes(start.count, start.concurrency, async (i) => {
    const session = await openSession(start.transport, start.port, start.address);
    await session.request({ cmd: 'login', name: `${start.prefix}${start.first + i}` }, 'login', 60_000);
    sessions.push(session);
    if (sessions.length % 100 === 0) send({ type: 'progress', loggedIn: sessions.length });
  });
  send({ type: 'loggedIn', loggedIn: sessions.length, failed: failures.count, firstError: failures.first });
}

/**
 * A ping per connection, sent after every login has been answered: the
 * server queued each presence frame before the login answer that caused
 * it, and a connection's frames arrive in order, so once every pong is
 * in, no presence frame is still on its way to take CPU from the window.
 */
async function sync(): Promise<void> {
  const results = await Promise.allSettled(sessions.map((s) => s.request({ cmd: 'ping' }, 'pong', 60_000)));
  let errors = 0;
  let presence = 0;
  let firstError: string | undefined;
  for (const s of sessions) {
    presence += s.presence;
    errors += s.errors;
    firstError ??= s.firstError;
  }
  for (const r of results) {
    if (r.status === 'rejected') {
      errors++;
      firstError ??= String(r.reason);
    }
  }
  send({ type: 'synced', presence, errors, firstError });
}

let finishWindow: (() => void) | undefined;

function expect(window: number, messages: number): void {
  const receipts = new Receipts(window, messages);
  const sum = new Array<number>(messages).fill(0);
  const prefix = bodyPrefix(window);
  // Connections that may still get messages of this window: done once none is left, not at the drain timeout.
  let waiting = 0;
  let disorder = 0;
  let reported = false;
  /** Messages of this window each connection got. */
  const got = new Array<number>(sessions.length).fill(0);
  const finish = (): void => {
    if (reported) return;
    reported = true;
    for (const s of sessions) {
      s.onMessage = () => {};
      s.onClose = () => {};
    }
    let closed = 0;
    let errors = 0;
    let firstError: string | undefined;
    for (const s of sessions) {
      if (s.closed) closed++;
      firstError ??= s.closeReason;
      errors += s.errors;
      firstError ??= s.firstError;
    }
    const starved = got.filter((g) => g === 0).length;
    const partial = got.filter((g) => g > 0 && g < messages).length;
    send({ ...receipts.tally(closed), sum, disorder, errors, firstError, starved, partial });
  };
  finishWindow = finish;
  for (const [k, s] of sessions.entries()) {
    if (s.closed) continue;
    waiting++;
    s.onClose = () => {
      if ((got[k] as number) < messages && --waiting === 0) finish();
    };
    let previous = -1;
    s.onMessage = (body, at) => {
      if (!body.startsWith(prefix)) return;
      const seq = Number.parseInt(body.slice(prefix.length), 10);
      if (!(seq >= 0 && seq < messages)) return;
      if (seq <= previous) disorder++;
      previous = seq;
      got[k] = (got[k] as number) + 1;
      receipts.add(seq, at);
      sum[seq] = (sum[seq] as number) + at;
      if (got[k] === messages && --waiting === 0) finish();
    };
  }
  send({ type: 'expecting', window });
  if (waiting === 0) finish();
}

onParentMessages<ToWorker>({
  start: (msg) => {
    useSourceAddress(msg.address);
    return logIn(msg);
  },
  sync: () => sync(),
  expect: (msg) => expect(msg.window, msg.messages),
  collect: () => finishWindow?.(),
});
