/**
 * The scenarios of the comparison bench, each run against one server:
 * idle WebSocket connections, then room fan-out windows on the same
 * connections with a 1:1 round trip measured alongside, then slow
 * consumers; held long-polls; and (webim only) one room of WebSocket,
 * SockJS and Comet users. Each returns figures; report.ts prints.
 */
import { join } from 'node:path';
import { FILLER } from '../harness/chat-session.js';
import { now, quantile, sendPaced, sleep } from '../harness/measure.js';
import { cutShort } from '../harness/serve-bench.js';
import { type Kind, type LoadConn, openConn, type ServerName } from './clients.js';
import { type Delivery, delivery, LoadPool } from './load.js';
import { ServerProcess } from './servers.js';
import { fanoutBody } from './worker.js';

export interface Sizes {
  members: number;
  small: number;
  rates: number[];
  seconds: number;
  drain: number;
  polls: number;
  mixed: number;
  /** webim connections per identity (1: every connection its own user). */
  devices: number;
  /** The longest wait for a server to finish the previous window's backlog. */
  quietMs: number;
  /** How long a memory reading may wait for the server to settle (serve-bench.ts); undefined: the server's default. */
  settleLimitMs: number | undefined;
}

export interface Rtt {
  p50: number;
  p99: number;
  p999: number;
  samples: number;
  lost: number;
}
export interface WindowFigures extends Delivery {
  room: 'big' | 'small';
  rate: number;
  serverCpuMs: number;
  busy: number;
  rtt: Rtt;
}
export interface WsSuite {
  server: ServerName;
  members: number;
  setupSeconds: number;
  rssPerConn: number;
  heapPerConn: number;
  /** Neither memory reading was cut short (serve-bench.ts cutShort): the per-connection figures can be judged. */
  settled: boolean;
  windows: WindowFigures[];
  /** Windows of the big room the server could not be measured in (it did not answer in time), with why. */
  unmeasured: string[];
  slow?: { paused: number; window: WindowFigures; rssGrowth: number };
}
export interface PollSuite {
  server: ServerName;
  kind: Kind;
  polls: number;
  rssPerPoll: number;
  heapPerPoll: number;
  /** Neither memory reading was cut short: the per-poll figures can be judged. */
  settled: boolean;
  /** Server sockets open while the polls were held, per poll (a held poll has one; idle keep-alive sockets add to it). */
  socketsPerPoll: number;
  result: Delivery;
  firstMs: number;
}
export interface MixedSuite {
  members: number;
  rate: number;
  byKind: Array<{ kind: Kind; d: Delivery }>;
}

export const WS_KIND: Record<ServerName, Kind> = { webim: 'webim-ws', ws: 'ws', 'socket.io': 'sio-ws', sockjs: 'sockjs-ws' };
const POLL_KIND: Partial<Record<ServerName, Kind>> = { webim: 'webim-comet', 'socket.io': 'sio-polling', sockjs: 'sockjs-xhr-polling' };
/** webim puts every user in `lobby`: its big room. */
const bigRoom = (server: ServerName): string => (server === 'webim' ? 'lobby' : 'big');

async function openSender(server: ServerName, port: number, withSmall: boolean): Promise<LoadConn> {
  const c = await openConn(WS_KIND[server], { port, localAddress: '127.0.0.1', name: 'sender' });
  if (server !== 'webim') await c.join('big');
  if (withSmall) await c.join('small');
  return c;
}

/** Two users in a room of their own: one pings, the other answers at once; every 10 ms until stopped. */
export function startPings(a: LoadConn, b: LoadConn): () => Rtt {
  const sent = new Map<number, number>();
  const rtts: number[] = [];
  let i = 0;
  b.onText = (text) => {
    const m = /~p(\d+)\./.exec(text);
    if (m) b.send('pair', `~q${m[1]}.`);
  };
  a.onText = (text, at) => {
    const m = /~q(\d+)\./.exec(text);
    const s = m ? sent.get(Number(m[1])) : undefined;
    if (m && s !== undefined) {
      rtts.push(at - s);
      sent.delete(Number(m[1]));
    }
  };
  const timer = setInterval(() => {
    sent.set(i, now());
    a.send('pair', `~p${i++}.`);
  }, 10);
  return () => {
    clearInterval(timer);
    rtts.sort((x, y) => x - y);
    return { p50: quantile(rtts, 0.5), p99: quantile(rtts, 0.99), p999: quantile(rtts, 0.999), samples: rtts.length, lost: sent.size };
  };
}

function sendWindow(sender: LoadConn, room: string, window: number, rate: number, seconds: number): Promise<number[]> {
  return sendPaced(rate * seconds, rate, (i) => sender.send(room, fanoutBody(window, i, FILLER)));
}

interface Ctx {
  srv: ServerProcess;
  pool: LoadPool;
  sender: LoadConn;
  pair: [LoadConn, LoadConn];
  sizes: Sizes;
  log: (line: string) => void;
}

async function fanWindow(c: Ctx, window: number, room: 'big' | 'small', rate: number): Promise<WindowFigures> {
  const { seconds, drain } = c.sizes;
  await c.srv.quiet(c.sizes.quietMs);
  const { reports } = await c.pool.expect(window, room, rate * seconds, (seconds + drain + 60) * 1000);
  c.log(`window ${window}: ${rate} msg/s to ${room} for ${seconds} s`);
  const profileDir = process.env.BENCH_PROFILE_DIR;
  if (profileDir !== undefined) await c.srv.profile();
  await c.srv.loop();
  const stopPings = startPings(...c.pair);
  const sentAt = await sendWindow(c.sender, room === 'big' ? bigRoom(c.srv.name) : 'small', window, rate, seconds);
  const collect = setTimeout(() => c.pool.collect(window), drain * 1000);
  const d = delivery(sentAt, await reports);
  clearTimeout(collect);
  const rtt = stopPings();
  const use = await c.srv.loop();
  if (profileDir !== undefined) await c.srv.profile(join(profileDir, `${c.srv.name}-${room}-${rate}.cpuprofile`));
  return { room, rate, ...d, serverCpuMs: use.cpuMs, busy: use.busyMs / use.wallMs, rtt };
}

/** Idle connections, fan-out windows with the 1:1 round trip, then 1% slow consumers, all on one set of connections. */
export async function wsSuite(server: ServerName, sizes: Sizes, log: (line: string) => void): Promise<WsSuite> {
  const srv = await ServerProcess.start(server);
  let pool: LoadPool | undefined;
  try {
    const before = await srv.settledMemory(sizes.settleLimitMs);
    const devices = server === 'webim' ? sizes.devices : 1;
    const opened = await LoadPool.open(WS_KIND[server], srv.port, sizes.members, {
      procs: Math.max(2, Math.ceil(sizes.members / 5000)),
      smallCount: sizes.small,
      devices,
      // Distinct webim users log in a few at a time: each login still tells the users online.
      concurrency: server === 'webim' && devices === 1 ? 8 : server === 'webim' ? 4 : 64,
      log,
    });
    pool = opened.pool;
    // The last logins' presence and the sockets' buffers first; then the young generation (settledMemory).
    await sleep(1000);
    const after = await srv.settledMemory(sizes.settleLimitMs);
    log(`${sizes.members} idle connections: ${((after.rss - before.rss) / sizes.members / 1024).toFixed(2)} KiB RSS each`);
    const sender = await openSender(server, srv.port, true);
    const pa = await openConn(WS_KIND[server], { port: srv.port, localAddress: '127.0.0.1', name: 'pa' });
    const pb = await openConn(WS_KIND[server], { port: srv.port, localAddress: '127.0.0.1', name: 'pb' });
    for (const p of [pa, pb]) {
      if (server === 'webim') await p.leave('lobby');
      await p.join('pair');
    }
    const c: Ctx = { srv, pool, sender, pair: [pa, pb], sizes, log };
    const windows: WindowFigures[] = [];
    let w = 0;
    for (const rate of sizes.rates) windows.push(await fanWindow(c, w++, 'small', rate));

    // Slow consumers: 1% of the small room stops reading; the window repeats the small room's fastest rate. Before the big
    // room's windows, whose backlog (more than one core delivers) would still be draining.
    const paused = await pool.pause(100);
    await srv.quiet(sizes.quietMs);
    const rssBefore = (await srv.memory()).rss;
    const window = await fanWindow(c, w++, 'small', Math.max(...sizes.rates));
    const rssAfter = (await srv.memory()).rss;
    await pool.resume();

    const unmeasured: string[] = [];
    for (const rate of sizes.rates) {
      try {
        windows.push(await fanWindow(c, w++, 'big', rate));
      } catch (err) {
        // Above what one core delivers, a server may still be working off its backlog when asked for its CPU (Socket.IO
        // once took over 120 s): that window is reported as unmeasured and what was measured before it is kept.
        unmeasured.push(`${sizes.members.toLocaleString('en-US')} members at ${rate} msg/s: ${String(err).split('\n', 1)[0]}`);
        log(`window ${w - 1} unmeasured: ${String(err)}`);
        break;
      }
    }
    for (const conn of [sender, pa, pb]) conn.close();
    return {
      server,
      members: sizes.members,
      setupSeconds: opened.seconds,
      rssPerConn: (after.rss - before.rss) / sizes.members,
      heapPerConn: (after.heap - before.heap) / sizes.members,
      settled: !cutShort(before.young) && !cutShort(after.young),
      windows,
      unmeasured,
      slow: { paused, window, rssGrowth: rssAfter - rssBefore },
    };
  } finally {
    pool?.kill();
    await srv.stop();
  }
}

/** Held polls: memory per poll, then one room message and the time it takes to reach every poller. */
export async function pollSuite(server: ServerName, sizes: Sizes, log: (line: string) => void): Promise<PollSuite> {
  const kind = POLL_KIND[server];
  if (!kind) throw new Error(`${server} has no long-poll transport`);
  const srv = await ServerProcess.start(server);
  let pool: LoadPool | undefined;
  try {
    // The sender first: its login must not wake the polls once they are held.
    const sender = await openSender(server, srv.port, false);
    const before = await srv.settledMemory(sizes.settleLimitMs);
    const procs = Math.max(2, Math.ceil(sizes.polls / 2500));
    // webim: one identity per worker, many devices (as bench/longpoll/ does), so that no presence crosses the polls.
    const devices = server === 'webim' ? Math.ceil(sizes.polls / procs) : 1;
    pool = (await LoadPool.open(kind, srv.port, sizes.polls, { procs, smallCount: 0, devices, concurrency: server === 'webim' ? procs : 32, sync: false, log })).pool;
    let after = await srv.memory();
    for (let i = 0; i < 50 && after.sockets < sizes.polls; i++) {
      await sleep(200);
      after = await srv.memory();
    }
    // Past Node's default 5 s keep-alive timeout, so that the sockets of finished requests are gone wherever the server closes them.
    await sleep(6000);
    after = await srv.settledMemory(sizes.settleLimitMs);
    log(`${sizes.polls} ${kind} polls held (${after.sockets} server sockets)`);
    const { reports } = await pool.expect(0, 'big', 1, 60_000);
    const sentAt = [now()];
    sender.send(bigRoom(server), fanoutBody(0, 0, FILLER));
    const collect = setTimeout(() => pool?.collect(0), 15_000);
    const all = await reports;
    clearTimeout(collect);
    const firsts = all.flatMap((r) => (r.counts[0] ? [r.first[0] as number] : []));
    sender.close();
    return {
      server,
      kind,
      polls: sizes.polls,
      rssPerPoll: (after.rss - before.rss) / sizes.polls,
      heapPerPoll: (after.heap - before.heap) / sizes.polls,
      settled: !cutShort(before.young) && !cutShort(after.young),
      socketsPerPoll: (after.sockets - before.sockets) / sizes.polls,
      result: delivery(sentAt, all),
      firstMs: Math.min(...firsts) - (sentAt[0] as number),
    };
  } finally {
    pool?.kill();
    await srv.stop();
  }
}

/** webim alone: a third of the lobby on WebSocket, a third on SockJS (websocket), a third on Comet, one rate. */
export async function mixedSuite(sizes: Sizes, log: (line: string) => void): Promise<MixedSuite> {
  const srv = await ServerProcess.start('webim');
  const pools: Array<{ kind: Kind; pool: LoadPool }> = [];
  try {
    const sender = await openSender('webim', srv.port, false);
    const kinds: Kind[] = ['webim-ws', 'webim-sockjs', 'webim-comet'];
    const per = Math.ceil(sizes.mixed / kinds.length);
    for (const [i, kind] of kinds.entries()) {
      // Each kind one identity of its own, many devices: the run measures delivery, not presence.
      const { pool } = await LoadPool.open(kind, srv.port, per, { first: i * per, procs: 1, smallCount: 0, devices: per, concurrency: 1, log });
      pools.push({ kind, pool });
    }
    await srv.quiet(sizes.quietMs);
    const rate = Math.min(...sizes.rates);
    const waits = await Promise.all(pools.map((p) => p.pool.expect(0, 'big', rate * sizes.seconds, (sizes.seconds + sizes.drain + 60) * 1000)));
    log(`mixed: ${rate} msg/s to ${per * kinds.length} members over ${kinds.join(', ')}`);
    const sentAt = await sendWindow(sender, 'lobby', 0, rate, sizes.seconds);
    const collect = setTimeout(() => {
      for (const p of pools) p.pool.collect(0);
    }, sizes.drain * 1000);
    const reports = await Promise.all(waits.map((w) => w.reports));
    clearTimeout(collect);
    sender.close();
    return { members: per * kinds.length, rate, byKind: pools.map((p, i) => ({ kind: p.kind, d: delivery(sentAt, reports[i] ?? []) })) };
  } finally {
    for (const p of pools) p.pool.kill();
    await srv.stop();
  }
}
