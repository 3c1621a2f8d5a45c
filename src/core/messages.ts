/**
 * A new message's way from a command to the store and out: stored, acked
 * to its sender once durable, then serialized once and handed to the
 * cluster, which puts it on the bus and in offset order for this node's
 * connections (src/core/fanout.ts). Acks and deliveries follow commit
 * order, so a connection's pipelined sends keep their order.
 */
import type { Log } from '../log.js';
import type { AppendResult, HistoryStore } from '../store/store.js';
import type { NewMessage, StoredMessage } from '../types.js';
import type { Connection } from './connection.js';
import { answerFailure } from './failure.js';
import { dmParticipants } from '../channels.js';
import { messageFrame } from './frames.js';
import type { ChatStats } from './stats.js';

/** Where a stored message's frame goes next (the cluster: to the other nodes once, and to this node's connections in order). */
export interface StoredSink {
  stored(channel: string, offset: number, frame: string): void;
}

export class Messages {
  constructor(
    private readonly store: Pick<HistoryStore, 'append'>,
    private readonly stats: ChatStats,
    private readonly log: Log,
    private readonly sink: StoredSink,
    /** Told of each new private message with its channel's users (the offline hook: src/hooks/hooks.ts); undefined: nobody asks. */
    private readonly privateStored?: (message: StoredMessage, users: readonly string[]) => void,
  ) {}

  /** Stores a message, then acks it to its sender and fans it out, in commit order. */
  append(conn: Connection, msg: NewMessage): void {
    this.storeAppend(msg).then(
      ({ message, duplicate }) => {
        const { cid, id, channel, offset, ts } = message;
        conn.sendObject({ cmd: 'ack', cid, id, channel, offset, ts });
        if (!duplicate) this.deliver(message);
      },
      (err: unknown) => answerFailure(conn, err, this.log, msg.cid),
    );
  }

  /** store.append, timed from the call to the commit for `webim_store_append_seconds`. */
  storeAppend(msg: NewMessage): Promise<AppendResult> {
    const started = performance.now();
    const done = this.store.append(msg);
    // Observed in a `then` of its own: the caller's `then` still runs in offset order, and a failure is the caller's to report.
    done.then(
      () => this.stats.observeAppend((performance.now() - started) / 1000),
      () => undefined,
    );
    return done;
  }

  /** Sends a stored message to every connection that should see it, on every node. */
  deliver(message: StoredMessage): void {
    // Serialized once: the other nodes get this very frame over the bus.
    this.sink.stored(message.channel, message.offset, messageFrame(message));
    // Only the node that stored it says so: every private message is told of once in a cluster.
    if (this.privateStored && message.channel.startsWith('dm:')) this.privateStored(message, dmParticipants(message.channel));
  }
}
