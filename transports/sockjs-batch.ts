/**
 * SockJS delivery without per-recipient work that a broadcast can share
 * (issue 8). sockjs-node 0.3 quotes every message for every session it is
 * written to (`utils.quote`: JSON.stringify of the text plus an escape pass,
 * 14% of the server's time in a room fan-out), and flushes each `write` as
 * its own SockJS frame. Here:
 *
 * - the quoting is memoized by identity: a broadcast hands each session the
 *   same string object, so it is quoted once. sockjs has no API for this;
 *   its `utils` module is patched once, in place, and the patch returns
 *   exactly what the original returns.
 * - a session's messages within one tick go out as one `a[...]` frame
 *   (SockJS frames carry arrays for this), flushed at the end of the tick.
 *
 * Both lean on sockjs 0.3 internals; where they are not as expected, the
 * plain `write` path is taken, which is slower but the same on the wire.
 */
import { createRequire } from 'node:module';

interface SockjsUtils {
  quote(text: string): string;
}

let patched = false;

/** Makes sockjs's `utils.quote` remember its last answer. Idempotent. */
export function memoizeQuote(): void {
  if (patched) return;
  patched = true;
  const require = createRequire(import.meta.url);
  const utils = require('sockjs/lib/utils.js') as Partial<SockjsUtils>;
  const original = utils.quote;
  if (typeof original !== 'function') return;
  let lastIn: string | undefined;
  let lastOut = '';
  utils.quote = (text: string): string => {
    if (text !== lastIn) {
      lastOut = original(text);
      lastIn = text;
    }
    return lastOut;
  };
}

/** The slice of a sockjs 0.3 session (lib/transport.js) that batching uses. */
export interface BatchableSession {
  send_buffer?: string[];
  recv?: unknown;
  tryFlush?(): void;
}

const pending = new Set<BatchableSession>();
let flushQueued = false;

/** Hands the session's queued frames to its open request or WebSocket, if it has one (else its next poll takes them). */
export function flushNow(session: BatchableSession | undefined): void {
  if (session?.recv && (session.send_buffer?.length ?? 0) > 0) session.tryFlush?.();
}

function flushAll(): void {
  flushQueued = false;
  for (const session of pending) flushNow(session);
  pending.clear();
}

/**
 * Queues `frame` on the session and flushes it with the rest of the tick's
 * frames; false when the session is not as expected (the caller writes).
 */
export function queueFrame(session: BatchableSession | undefined, frame: string): boolean {
  const buffer = session?.send_buffer;
  if (!session || !Array.isArray(buffer) || typeof session.tryFlush !== 'function') return false;
  buffer.push(frame);
  pending.add(session);
  if (!flushQueued) {
    flushQueued = true;
    process.nextTick(flushAll);
  }
  return true;
}
