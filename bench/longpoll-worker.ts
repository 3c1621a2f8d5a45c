/**
 * One client process of the long-poll bench: it opens `count` Comet
 * sessions, logs each in (one identity, many devices, so that no presence
 * storm grows with the square of the sessions), then keeps one poll held
 * per session until the bench's marker message arrives, and reports when
 * each poller had it (ms since the epoch, from performance.timeOrigin).
 *
 * Each session's sockets leave from one of the given loopback source
 * addresses (127.0.0.2, 127.0.0.3, ...) so that ephemeral ports last.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface StartMsg {
  type: 'start';
  port: number;
  count: number;
  addresses: string[];
  token: string;
  marker: string;
  concurrency: number;
}
export type ToWorker = StartMsg | { type: 'collect' };
export type FromWorker =
  | { type: 'progress'; held: number }
  | { type: 'ready'; held: number; failed: number; firstError?: string }
  | { type: 'done'; times: number[]; missing: number };

interface PollAnswer {
  seq?: number;
  frames?: Array<{ seq: number; msg: { cmd: string; body?: unknown } }>;
  sid?: string;
  error?: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
const times: number[] = [];
let held = 0;
let reported = false;

function send(msg: FromWorker): void {
  process.send?.(msg);
}

function call(port: number, localAddress: string, method: 'GET' | 'POST', path: string, body?: string): Promise<PollAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = request({ host: '127.0.0.1', port, method, path, agent, localAddress, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as PollAnswer);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function finish(missing: number): void {
  if (reported) return;
  reported = true;
  send({ type: 'done', times, missing });
}

/** Opens a session, logs it in and polls until the login answer is acked; returns the sid and ack. */
async function setup(start: StartMsg, addr: string): Promise<{ sid: string; ack: number }> {
  const opened = await call(start.port, addr, 'GET', '/comet/open');
  if (typeof opened.sid !== 'string') throw new Error(`open: ${JSON.stringify(opened)}`);
  const sid = opened.sid;
  await call(start.port, addr, 'POST', `/comet/send?sid=${sid}`, JSON.stringify([{ cmd: 'login', token: start.token }]));
  let ack = 0;
  for (;;) {
    const a = await call(start.port, addr, 'GET', `/comet/poll?sid=${sid}&ack=${ack}`);
    for (const f of a.frames ?? []) {
      ack = f.seq;
      if (f.msg.cmd === 'login') return { sid, ack };
      if (f.msg.cmd === 'error' || f.msg.cmd === 'bye') throw new Error(`login: ${JSON.stringify(f.msg)}`);
    }
    if (a.error !== undefined) throw new Error(`poll: ${a.error}`);
  }
}

/** Keeps one poll held until the marker arrives. */
async function hold(start: StartMsg, addr: string, sid: string, ack: number): Promise<void> {
  for (;;) {
    const a = await call(start.port, addr, 'GET', `/comet/poll?sid=${sid}&ack=${ack}`);
    const now = performance.timeOrigin + performance.now();
    if (a.error !== undefined) throw new Error(`poll: ${a.error}`);
    for (const f of a.frames ?? []) {
      ack = f.seq;
      if (f.msg.cmd === 'message' && f.msg.body === start.marker) {
        times.push(now);
        if (times.length === held) finish(0);
        return;
      }
    }
  }
}

async function run(start: StartMsg): Promise<void> {
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async (): Promise<void> => {
    while (next < start.count) {
      const i = next++;
      const addr = start.addresses[i % start.addresses.length] as string;
      try {
        const { sid, ack } = await setup(start, addr);
        held++;
        if (held % 500 === 0) send({ type: 'progress', held });
        hold(start, addr, sid, ack).catch((err: unknown) => {
          held--;
          failed++;
          firstError ??= String(err);
        });
      } catch (err) {
        failed++;
        firstError ??= String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: start.concurrency }, lane));
  send({ type: 'ready', held, failed, firstError });
}

process.on('message', (msg: ToWorker) => {
  if (msg.type === 'start') {
    run(msg).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  } else if (msg.type === 'collect') {
    finish(held - times.length);
  }
});
// The bench went away: do not outlive it.
process.on('disconnect', () => process.exit(0));
