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
import http from 'node:http';
import { cpuUsage } from 'node:process';
import { type Kind, type LoadConn, openConn, serverOf } from './compare-clients.js';

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
  | { type: 'sync' }
  | { type: 'pause'; every: number }
  | { type: 'resume' }
  | { type: 'expect'; window: number; room: 'big' | 'small'; messages: number }
  | { type: 'collect'; window: number };
export interface WindowReport {
  type: 'done';
  window: number;
  counts: number[];
  first: number[];
  last: number[];
  /** Connections expected to get the window's bodies, and how many of them got all, or closed. */
  expected: number;
  complete: number;
  closed: number;
  cpuMs: number;
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

function send(msg: FromWorker): void {
  process.send?.(msg);
}

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
  Reflect.set(http, 'globalAgent', new http.Agent({ keepAlive: true, localAddress: start.addresses[0] }));
  let failed = 0;
  let firstError: string | undefined;
  const opened = (index: number, conn: LoadConn): void => {
    members.push({ index, conn, paused: false });
    if (members.length % 500 === 0) send({ type: 'progress', opened: members.length });
  };
  const failure = (err: unknown): void => {
    failed++;
    firstError ??= String(err);
  };
  const groups = new Map<number, number[]>();
  for (let i = start.first; i < start.first + start.count; i++) {
    const id = Math.floor(i / start.devices);
    groups.set(id, [...(groups.get(id) ?? []), i]);
  }
  const queue = [...groups.values()];
  const lane = async (): Promise<void> => {
    for (let group = queue.shift(); group !== undefined; group = queue.shift()) {
      const [lead, ...rest] = group as [number, ...number[]];
      let token: string | undefined;
      try {
        const conn = await openOne(start, lead, undefined);
        opened(lead, conn);
        token = conn.token;
      } catch (err) {
        failure(err);
        failed += rest.length;
        continue;
      }
      // The other devices of an identity, a bounded number at a time.
      for (let k = 0; k < rest.length; k += 50) {
        const batch = rest.slice(k, k + 50);
        const results = await Promise.allSettled(batch.map((i) => openOne(start, i, token)));
        results.forEach((r, j) => (r.status === 'fulfilled' ? opened(batch[j] as number, r.value) : failure(r.reason)));
      }
    }
  };
  await Promise.all(Array.from({ length: start.concurrency }, lane));
  send({ type: 'opened', opened: members.length, failed, firstError });
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
  const counts = new Array<number>(messages).fill(0);
  const first = new Array<number>(messages).fill(0);
  const last = new Array<number>(messages).fill(0);
  const cpu0 = cpuUsage();
  const expected = members.filter((m) => !m.paused && (room === 'big' || m.index < smallCount));
  const got = new Map<Member, number>();
  let waiting = expected.length;
  let reported = false;
  const finish = (): void => {
    if (reported) return;
    reported = true;
    finishWindow = undefined;
    for (const m of members) m.conn.onText = () => {};
    const used = cpuUsage(cpu0);
    const complete = expected.filter((m) => got.get(m) === messages).length;
    const closed = expected.filter((m) => m.conn.closed()).length;
    send({ type: 'done', window, counts, first, last, expected: expected.length, complete, closed, cpuMs: (used.user + used.system) / 1000 });
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
      if (counts[seq] === 0 || at < (first[seq] as number)) first[seq] = at;
      counts[seq] = (counts[seq] as number) + 1;
      if (at > (last[seq] as number)) last[seq] = at;
      if (n === messages && --waiting === 0) finish();
    };
  }
  send({ type: 'expecting', window });
  if (waiting === 0) finish();
}

process.on('message', (msg: ToWorker) => {
  const fail = (err: unknown): void => {
    console.error(err);
    process.exit(1);
  };
  if (msg.type === 'open') {
    smallCount = msg.smallCount;
    open(msg).catch(fail);
  } else if (msg.type === 'sync') sync().catch(fail);
  else if (msg.type === 'pause') pause(msg.every);
  else if (msg.type === 'resume') {
    for (const m of members.filter((x) => x.paused)) {
      m.conn.resume?.();
      m.paused = false;
    }
    send({ type: 'paused', paused: 0 });
  }
  else if (msg.type === 'expect') expect(msg.window, msg.room, msg.messages);
  else if (msg.type === 'collect' && msg.window >= 0) finishWindow?.();
});
// The bench went away (done, killed, crashed): leave at once, without closing handshakes.
process.on('disconnect', () => process.exit(0));
