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
import { Agent } from 'node:http';
import { cometCall } from '../harness/chat-session.js';
import { now } from '../harness/measure.js';
import { Failures, inLanes, onParentMessages, toParent } from '../harness/worker.js';

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

const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
const times: number[] = [];
let held = 0;
let reported = false;
const send = (msg: FromWorker): void => toParent(msg);
const call = (start: StartMsg, localAddress: string, method: 'GET' | 'POST', path: string, body?: string) =>
  cometCall(agent, start.port, method, path, body, localAddress);

function finish(missing: number): void {
  if (reported) return;
  reported = true;
  send({ type: 'done', times, missing });
}

/** Opens a session, logs it in and polls until the login answer is acked; returns the sid and ack. */
async function setup(start: StartMsg, addr: string): Promise<{ sid: string; ack: number }> {
  const opened = await call(start, addr, 'GET', '/comet/open');
  if (typeof opened.sid !== 'string') throw new Error(`open: ${JSON.stringify(opened)}`);
  const sid = opened.sid;
  await call(start, addr, 'POST', `/comet/send?sid=${sid}`, JSON.stringify([{ cmd: 'login', token: start.token }]));
  let ack = 0;
  for (;;) {
    const a = await call(start, addr, 'GET', `/comet/poll?sid=${sid}&ack=${ack}`);
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
    const a = await call(start, addr, 'GET', `/comet/poll?sid=${sid}&ack=${ack}`);
    const at = now();
    if (a.error !== undefined) throw new Error(`poll: ${a.error}`);
    for (const f of a.frames ?? []) {
      ack = f.seq;
      if (f.msg.cmd === 'message' && f.msg.body === start.marker) {
        times.push(at);
        if (times.length === held) finish(0);
        return;
      }
    }
  }
}

async function run(start: StartMsg): Promise<void> {
  // A poll that fails before every session is set up counts as a failed session, as a failed setup does.
  const failures = new Failures();
  await inLanes(
    start.count,
    start.concurrency,
    async (i) => {
      const addr = start.addresses[i % start.addresses.length] as string;
      const { sid, ack } = await setup(start, addr);
      held++;
      if (held % 500 === 0) send({ type: 'progress', held });
      hold(start, addr, sid, ack).catch((err: unknown) => {
        held--;
        failures.add(err);
      });
    },
    failures,
  );
  send({ type: 'ready', held, failed: failures.count, firstError: failures.first });
}

onParentMessages<ToWorker>({
  start: (msg) => run(msg),
  collect: () => finish(held - times.length),
});
