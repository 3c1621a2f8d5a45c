/**
 * What the chat core counts for `/metrics`: plain numbers that the hot path
 * bumps, read by src/http/metrics.ts when Prometheus scrapes.
 *
 * Why not prom-client metrics here: a prom-client child
 * (`counter.labels('send')`) still hashes and validates its labels on every
 * `inc` (prom-client 15, lib/counter.js), so per-message counting through it
 * costs a string build per frame of every fan-out. A field increment costs
 * nothing, the core stays free of prom-client, and with `--no-metrics` the
 * counts are simply never read.
 */
import type { TransportName } from './transport.js';
import { type ErrorCode, ErrorCodes } from '../errors.js';

/** The `cmd` label of messages in: the protocol's commands, and two buckets for the rest, so a client cannot mint labels. */
export const COUNTED_CMDS = [
  'login', 'send', 'join', 'leave', 'history', 'online', 'status', 'typing', 'ping', 'logout',
  /** A `cmd` the protocol does not have. */
  'unknown',
  /** Not JSON, or not an object with a string `cmd`. */
  'invalid',
] as const;

export type CountedCmd = (typeof COUNTED_CMDS)[number];

/** One counter: an object, so the hot path keeps a reference and never looks a label up twice. */
export interface Cell {
  n: number;
}

function cells<K extends string>(keys: readonly K[]): Map<K, Cell> {
  return new Map(keys.map((k) => [k, { n: 0 }]));
}

export class ChatStats {
  /** Open connections per transport (a Comet or SockJS session counts as one). */
  readonly connections: Record<TransportName, number> = { websocket: 0, comet: 0, sockjs: 0 };
  /** Logins that were answered with `login`. */
  logins = 0;
  /** Frames handed to a transport (every `message`, `ack`, `presence`, ... and `bye`). */
  framesOut = 0;
  /** Client messages refused by the per-connection rate limit. */
  rateLimited = 0;
  /** Seconds the last event from another node took on the bus (publish to receipt, across clocks); 0 on one node. */
  busLag = 0;
  readonly messagesIn: ReadonlyMap<CountedCmd, Cell> = cells(COUNTED_CMDS);
  readonly errors: ReadonlyMap<ErrorCode, Cell> = cells(Object.keys(ErrorCodes) as ErrorCode[]);
  private readonly unknownCmd = this.messagesIn.get('unknown') as Cell;
  private readonly invalid = this.messagesIn.get('invalid') as Cell;

  /** Seconds from `store.append` to its commit; a no-op unless /metrics is on (it sets this). */
  observeAppend: (seconds: number) => void = () => undefined;

  /** Counts one client message by its `cmd`; undefined for text that is no command at all. */
  messageIn(cmd: string | undefined): void {
    if (cmd === undefined) this.invalid.n++;
    else (this.messagesIn.get(cmd as CountedCmd) ?? this.unknownCmd).n++;
  }

  error(code: ErrorCode): void {
    const cell = this.errors.get(code);
    if (cell) cell.n++;
  }
}
