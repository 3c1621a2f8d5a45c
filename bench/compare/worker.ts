/**
 * One load-generator process of the comparison bench (compare-bench.ts):
 * it opens `count` connections of one kind from its source addresses,
 * joins them to the bench rooms, and per send window records when each
 * connection got each numbered body (`~b<window>.<seq>.`), reporting per
 * body how many connections got it and the first and last arrival.
 *
 * Connection `i` (numbered across workers) joins `big`, and `small` when
 * i < smallCount. webim: connection i logs in as identity
 * floor(i / devices); the first device of an identity logs in by name,
 * the others with its token, and only it joins (membership is per user).
 */
import { useSourceAddress } from '../harness/chat-session.js';
import { Receipts, type WindowCommand, type WindowTally } from '../harness/measure.js';
import { Failures, inLanes, onParentMessages, toParent } from '../harness/worker.js';
import { type Kind, type LoadConn, openConn, serverOf } from './clients.js';

export interface OpenMsg {
  type: 'open';
  kind: Kind;
  port: number;
  first: number;
  count: number;
  addresses: string[];
  smallCount: number;
  devices: number;
  concurrency: number;
}
export type ToWorker =
  | OpenMsg
  | WindowCommand
  | { type: 'pause'; every: number }
  | { type: 'resume' }
  | { type: 'expect'; window: number; room: 'big' | 'small'; messages: number };
export interface WindowReport extends WindowTally {
  /** Connections expected to get the window's bodies, and how many of them got all. */
  expected: number;
  complete: number;
}
export type FromWorker =
  | { type: 'progress'; opened: number }
  | { type: 'opened'; opened: number; failed: number; firstError?: string }
  | { type: 'synced'; failed: number; firstError?: string }
  | { type: 'paused'; paused: number }
  | { type: 'expecting'; window: number }
  | WindowReport;

export const fanoutBody = (window: number, seq: number, filler: string): string => `~b${window}.${seq}. ${filler}`;
const BODY = /~b(\d+)\.(\d+)\./;

interface Member {
  index: number;
  conn: LoadConn;
  paused: boolean;
}
const members: Member[] = [];

const send = (msg: FromWorker): void => toParent(msg);

function roomsOf(index: number, start: OpenMsg): string[] {
  const webim = serverOf(start.kind) === 'webim';
  // webim puts every new user in `lobby`: that is its big room.
  const rooms = webim ? [] : ['big'];
  if (index < start.smallCount) rooms.push('small');
  return rooms;
}

async function openOne(start: OpenMsg, index: number, token: string | undefined): Promise<LoadConn> {
  const localAddress = start.addresses[index % start.addresses.length] as string;
  const conn = await openConn(start.kind, { port: start.port, localAddress, name: `u${Math.floor(index / start.devices)}`, token, timeoutMs: 60_000 });
  const leader = index % start.devices === 0;
  if (leader || serverOf(start.kind) !== 'webim') for (const room of roomsOf(index, start)) await conn.join(room);
  return conn;
}

async function open(start: OpenMsg): Promise<void> {
  // sockjs-client's XHR transports use the global agent: from this process's first address.
  useSourceAddress(start.addresses[0] as string);
  const opened = (index: number, conn: LoadConn): void => {
    members.push({ index, conn, paused: false });
    if (members.length % 500 === 0) send({ type: 'progress', opened: members.length });
  };
  const groups = new Map<number, number[]>();
  for (let i = start.first; i < start.first + start.count; i++) {
    const id = Math.floor(i / start.devices);
    groups.set(id, [...(groups.get(id) ?? []), i]);
  }
  const queue = [...groups.values()];
  // An identity's first device logs in by name; the others with its token, so they wait for it.
  const failures = new Failures();
  await inLanes(
    queue.length,
    start.concurrency,
    async (g) => {
      const [lead, ...rest] = queue[g] as [number, ...number[]];
      const conn = await openOne(start, lead, undefined).catch((err: unknown) => {
        // Without the first device's token the others cannot log in: they fail with it.
        failures.count += rest.length;
        throw err;
      });
      opened(lead, conn);
      // The other devices of an identity, a bounded number at a time.
      for (let k = 0; k < rest.length; k += 50) {
        const batch = rest.slice(k, k + 50);
        const results = await Promise.allSettled(batch.map((i) => openOne(start, i, conn.token)));
        results.forEach((r, j) => (r.status === 'fulfilled' ? opened(batch[j] as number, r.value) : failures.add(r.reason)));
      }
    },
    failures,
  );
  send({ type: 'opened', opened: members.length, failed: failures.count, firstError: failures.first });
}

async function sync(): Promise<void> {
  const results = await Promise.allSettled(members.map((m) => m.conn.sync()));
  const bad = results.filter((r) => r.status === 'rejected');
  send({ type: 'synced', failed: bad.length, firstError: bad[0]?.status === 'rejected' ? String(bad[0].reason) : undefined });
}

function pause(every: number): void {
  let paused = 0;
  for (const m of members) {
    // The middle of each block of `every`, in the small room only: the slow-consumer window sends there.
    if (m.index % every !== Math.floor(every / 2) || m.index >= smallCount || !m.conn.pause) continue;
    m.conn.pause();
    m.paused = true;
    paused++;
  }
  send({ type: 'paused', paused });
}

let finishWindow: (() => void) | undefined;
let smallCount = 0;

function expect(window: number, room: 'big' | 'small', messages: number): void {
  const receipts = new Receipts(window, messages);
  const expected = members.filter((m) => !m.paused && (room === 'big' || m.index < smallCount));
  const got = new Map<Member, number>();
  let waiting = expected.length;
  let reported = false;
  const finish = (): void => {
    if (reported) return;
    reported = true;
    finishWindow = undefined;
    for (const m of members) m.conn.onText = () => {};
    const complete = expected.filter((m) => got.get(m) === messages).length;
    const closed = expected.filter((m) => m.conn.closed()).length;
    send({ ...receipts.tally(closed), expected: expected.length, complete });
  };
  finishWindow = finish;
  for (const m of expected) {
    got.set(m, 0);
    m.conn.onText = (text, at) => {
      const match = BODY.exec(text);
      if (!match || Number(match[1]) !== window) return;
      const seq = Number(match[2]);
      if (seq >= messages) return;
      const n = (got.get(m) as number) + 1;
      got.set(m, n);
      receipts.add(seq, at);
      if (n === messages && --waiting === 0) finish();
    };
  }
  send({ type: 'expecting', window });
  if (waiting === 0) finish();
}

onParentMessages<ToWorker>({
  open: (msg) => {
    smallCount = msg.smallCount;
    return open(msg);
  },
  sync: () => sync(),
  pause: (msg) => pause(msg.every),
  resume: () => {
    for (const m of members.filter((x) => x.paused)) {
      m.conn.resume?.();
      m.paused = false;
    }
    send({ type: 'paused', paused: 0 });
  },
  expect: (msg) => expect(msg.window, msg.room, msg.messages),
  collect: (msg) => {
    if (msg.window >= 0) finishWindow?.();
  },
});
