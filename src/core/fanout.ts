/**
 * The last step of a stored message: from its frame, serialized once, to
 * this node's connections that should see it, in offset order (the
 * cluster's sequencer calls it in order). A private message handed to one
 * of a user's connections is remembered for offline delivery
 * (docs/protocol.md section 3.2).
 */
import { parseChannel } from '../channels.js';
import type { Log } from '../log.js';
import type { HistoryStore } from '../store/store.js';
import type { Directory } from './online.js';
import { OutFrame } from './transport.js';

export class Fanout {
  constructor(
    private readonly dir: Directory,
    private readonly store: Pick<HistoryStore, 'setDelivered'>,
    private readonly log: Log,
  ) {}

  /** Sends a stored message's frame to this node's connections that should see it. */
  deliverFrame(channel: string, offset: number, frame: string): void {
    const parsed = parseChannel(channel);
    if (!parsed) return;
    if (parsed.kind === 'room') {
      const room = this.dir.rooms.get(parsed.room);
      if (room) this.dir.toRoom(room, frame, undefined, channel, offset);
      return;
    }
    const [a, b] = parsed.users;
    // One frame for both sides of the conversation, all their devices.
    const out = new OutFrame(frame);
    for (const id of a === b ? [a] : [a, b]) {
      const user = this.dir.users.get(id);
      if (!user || user.conns.size === 0) continue;
      this.dir.toUser(user, out, undefined, channel, offset);
      this.remember(id, channel, offset);
    }
  }

  /** Records that a private message reached one of the user's connections (offline delivery, 3.2). */
  remember(userId: string, channel: string, offset: number): void {
    this.store.setDelivered(userId, channel, offset).catch((err: unknown) => {
      this.log.warn({ err, channel }, 'could not record delivery cursor');
    });
  }
}
