/**
 * The hub's side of the bus: what this node tells the others, and what it
 * does with what they tell it. Every node delivers to its own connections
 * only; the frames it receives were serialized once by the node the event
 * started on.
 *
 * With the LocalBus (one node) nothing is published, no user is remote and
 * stored messages go straight to the connections, as before the bus.
 */
import type { Bus, BusEnvelope, BusEvent, PresenceRecord } from '../bus/bus.js';
import { wallClock } from '../bus/clock.js';
import { Sequencer } from '../bus/sequencer.js';
import { parseChannel, roomChannel } from '../channels.js';
import type { Log } from '../log.js';
import type { HistoryStore } from '../store/store.js';
import { type RoomInfo, type UserInfo, withStatus } from '../types.js';
import { leftFrame, presenceFrame } from './frames.js';
import type { Directory, OnlineUser, Peer, RoomState } from './online.js';
import type { PresenceLimit } from './presence-limit.js';
import { RemoteUsers } from './remote-users.js';
import type { ChatStats } from './stats.js';

/** What the cluster uses of this node: its directory and store, and the way to its connections. */
export interface ClusterParts {
  readonly dir: Directory;
  readonly store: Pick<HistoryStore, 'head' | 'since' | 'getRoom' | 'listRooms' | 'dmChannelsOf' | 'getDelivered'>;
  readonly log: Log;
  readonly stats: ChatStats;
  readonly presenceLimit: PresenceLimit;
  /** A stored message's frame to this node's connections, called in each channel's offset order (src/core/fanout.ts). */
  deliver(channel: string, offset: number, frame: string): void;
}

/** ms a gap in a channel's offsets may stay open before the store fills it. */
const GAP_WAIT = 150;
/** ms after which a gap the store cannot fill is skipped. */
const GAP_GIVE_UP = 10000;

export class Cluster {
  readonly remote = new RemoteUsers();
  readonly sequencer: Sequencer | undefined;

  constructor(private readonly core: ClusterParts, readonly bus: Bus) {
    if (bus.distributed) {
      this.sequencer = new Sequencer({
        store: core.store,
        log: core.log,
        gapWait: GAP_WAIT,
        giveUp: GAP_GIVE_UP,
        deliver: (channel, offset, frame) => core.deliver(channel, offset, frame),
        follows: (channel) => this.follows(channel),
      });
    }
  }

  async start(): Promise<void> {
    await this.bus.start({
      event: (env) => this.receive(env),
      resync: (final) => void this.resync(final),
      nodesDown: (nodes) => this.nodesDown(nodes),
      records: () => [...this.core.dir.users.values()].map((u) => this.record(u)),
    });
    if (!this.sequencer) return;
    for (const room of this.core.dir.rooms.keys()) {
      const channel = roomChannel(room);
      this.sequencer.seed(channel, await this.core.store.head(channel));
    }
    this.remote.replace(await this.bus.snapshot());
  }

  async close(): Promise<void> {
    this.sequencer?.close();
    await this.bus.close();
  }

  // ---- what the rest of the core asks

  isOnline(id: string): boolean {
    return this.core.dir.users.has(id) || this.remote.has(id);
  }

  /** The users of a full (uncapped) list of this node's users, with those online only on other nodes added. */
  withRemote(users: UserInfo[], room?: string): UserInfo[] {
    if (this.remote.users.size === 0) return users;
    const seen = new Set(users.map((u) => u.id));
    const remote = room === undefined ? [...this.remote.users.values()].map((u) => u.info) : this.remote.inRoom(room);
    for (const info of remote) if (!seen.has(info.id) && !this.core.dir.users.has(info.id)) users.push(info);
    return users;
  }

  roomList(): Array<{ name: string; title: string; members: number }> {
    const list = this.core.dir.roomList();
    if (this.remote.users.size === 0) return list;
    return list.map((r) => ({ ...r, members: r.members + this.remote.inRoom(r.name).filter((u) => !this.core.dir.users.has(u.id)).length }));
  }

  /** A message this node stored: to the others once, and to this node's connections in offset order. */
  stored(channel: string, offset: number, frame: string): void {
    this.bus.publish({ k: 'message', channel, offset, frame });
    this.order(channel, offset, frame);
  }

  private order(channel: string, offset: number, frame: string): void {
    if (this.sequencer) this.sequencer.push(channel, offset, frame);
    else this.core.deliver(channel, offset, frame);
  }

  /** A room this node has (rooms are few, and seeded at start), or a private conversation of a user online here. */
  private follows(channel: string): boolean {
    const parsed = parseChannel(channel);
    if (!parsed) return false;
    if (parsed.kind === 'room') return this.core.dir.rooms.has(parsed.room);
    return parsed.users.some((id) => this.core.dir.users.has(id));
  }

  /** Where a login's replay or a join's history ended: live messages start after it. */
  seed(channel: string, last: number): void {
    this.sequencer?.seed(channel, last);
  }

  record(user: OnlineUser): PresenceRecord {
    return { user: user.info, rooms: [...user.rooms] };
  }

  /** The cross-node name claim; false when another node holds the name (guest logins only). */
  claim(info: UserInfo, rooms: string[], exclusive: boolean): Promise<boolean> {
    return this.bus.claim({ user: info, rooms }, exclusive);
  }

  /** Gives up this node's claim on a name (a login that won it, then found its connection gone). */
  release(id: string): void {
    this.bus.release(id);
  }

  /** The user's first connection on this node logged in; `broadcast`: below --presence-limit. */
  online(user: OnlineUser, except: Peer, broadcast: boolean): void {
    const frame = presenceFrame('online', user.info);
    if (broadcast && !this.remote.has(user.info.id)) this.core.dir.toAll(frame, except);
    this.bus.publish({ k: 'presence', event: 'online', user: user.info, rooms: [...user.rooms], frame });
  }

  /** The user's last connection on this node ended. */
  offline(user: OnlineUser, broadcast: boolean): void {
    const frame = presenceFrame('offline', user.info);
    if (broadcast && !this.remote.has(user.info.id)) this.core.dir.toAll(frame);
    this.bus.release(user.info.id);
    this.bus.publish({ k: 'presence', event: 'offline', user: user.info, frame });
  }

  status(user: OnlineUser, frame: string): void {
    this.bus.update(this.record(user));
    this.bus.publish({ k: 'presence', event: 'status', user: user.info, frame });
  }

  /** A user of this node joined or left a room (the local frames are the caller's). */
  membership(event: 'join' | 'leave', user: OnlineUser, room: string, frame: string): void {
    this.bus.update(this.record(user));
    this.bus.publish({ k: 'membership', event, user: user.info, room, frame });
  }

  publish(event: BusEvent): void {
    this.bus.publish(event);
  }

  /** Admin changed a membership: the other nodes apply it to their connections; this node to a user it only knows remotely. */
  memberChanged(op: 'add' | 'remove', room: string, userId: string): void {
    this.bus.publish({ k: 'member', op, room, user: userId });
    if (!this.core.dir.users.has(userId)) this.applyRemoteMember(op, room, userId);
  }

  // ---- what arrives from the other nodes

  /** Presence from another node to this node's users, under --presence-limit as this node counts them. */
  private toAll(frame: string): void {
    if (this.core.presenceLimit.full(this.core.dir.users.size)) this.core.dir.toAll(frame);
  }

  private receive({ node, event, at }: BusEnvelope): void {
    const { core } = this;
    if (at !== undefined) core.stats.busLag = Math.max(0, wallClock() - at) / 1000;
    switch (event.k) {
      case 'message':
        this.order(event.channel, event.offset, event.frame);
        return;
      case 'presence':
        return this.presence(node, event);
      case 'membership':
        return this.remoteMembership(node, event);
      case 'typing': {
        if ('room' in event.to) {
          const room = core.dir.rooms.get(event.to.room);
          if (room) core.dir.toRoom(room, event.frame, core.dir.users.get(event.from));
        } else if (event.to.user !== event.from) {
          core.dir.toUser(core.dir.users.get(event.to.user), event.frame);
        }
        return;
      }
      case 'kick':
        if (event.guests === true) core.dir.endGuestSession(event.user);
        else for (const c of [...(core.dir.users.get(event.user)?.conns ?? [])]) c.bye(event.bye ?? 'kicked', event.reason);
        return;
      case 'room':
        this.addRoom(event.info);
        return;
      case 'room-deleted':
        return this.roomDeleted(event.room);
      case 'member':
        return this.member(event.op, event.room, event.user);
      case 'heads':
        for (const [channel, offset] of event.heads) void this.heads(channel, offset);
        return;
      case 'node-down':
        return this.nodesDown([node]);
    }
  }

  private presence(node: string, event: Extract<BusEvent, { k: 'presence' }>): void {
    const { core } = this;
    const id = event.user.id;
    if (event.event === 'online') {
      const wasOnline = this.isOnline(id);
      this.remote.add(node, { user: event.user, rooms: event.rooms ?? [] });
      if (!wasOnline) this.toAll(event.frame);
    } else if (event.event === 'offline') {
      if (this.remote.remove(node, id) && !core.dir.users.has(id)) this.toAll(event.frame);
    } else {
      const r = this.remote.get(id);
      if (r) r.info = event.user;
      const local = core.dir.users.get(id);
      if (local) local.info = withStatus(local.info, event.user.status);
      this.toAll(event.frame);
    }
  }

  private remoteMembership(node: string, event: Extract<BusEvent, { k: 'membership' }>): void {
    const { core } = this;
    const r = this.remote.get(event.user.id);
    if (r) {
      if (event.event === 'join') r.rooms.add(event.room);
      else r.rooms.delete(event.room);
    } else if (event.event === 'join') {
      this.remote.add(node, { user: event.user, rooms: [event.room] });
    }
    const room = core.dir.rooms.get(event.room);
    if (!room) {
      if (event.event === 'join') void this.fetchRoom(event.room);
      return;
    }
    // The same user on this node (another device) follows the membership, as on one node.
    const local = core.dir.users.get(event.user.id);
    if (local && event.event === 'join') core.dir.enter(local, room);
    else if (local && event.event === 'leave' && core.dir.exit(local, event.room)) core.dir.toUser(local, event.frame);
    if (core.presenceLimit.full(room.online.size)) core.dir.toRoom(room, event.frame);
  }

  private addRoom(info: RoomInfo): RoomState {
    const known = this.core.dir.rooms.has(info.name);
    const room = this.core.dir.addRoom(info);
    if (!known && this.sequencer) {
      const channel = roomChannel(info.name);
      void this.core.store.head(channel).then((head) => this.sequencer?.seed(channel, head), () => undefined);
    }
    return room;
  }

  private async fetchRoom(name: string): Promise<void> {
    const info = await this.core.store.getRoom(name).catch(() => undefined);
    if (info) this.addRoom(info);
  }

  private roomDeleted(name: string): void {
    const { core } = this;
    for (const u of this.remote.users.values()) u.rooms.delete(name);
    const frame = leftFrame(name, 'deleted');
    for (const user of core.dir.removeRoom(name)) core.dir.toUser(user, frame);
  }

  /** An admin of another node changed a membership: this node's connections see what they would on one node. */
  private member(op: 'add' | 'remove', name: string, userId: string): void {
    const { core } = this;
    const room = core.dir.rooms.get(name);
    const user = core.dir.users.get(userId);
    if (!room) return;
    if (!user) {
      this.applyRemoteMember(op, name, userId);
      return;
    }
    if (op === 'add' && core.dir.enter(user, room)) {
      core.dir.toRoom(room, presenceFrame('join', user.info, name));
      this.bus.update(this.record(user));
    } else if (op === 'remove' && core.dir.exit(user, name)) {
      core.dir.toUser(user, leftFrame(name, 'removed'));
      core.dir.toRoom(room, presenceFrame('leave', user.info, name));
      this.bus.update(this.record(user));
    }
  }

  private applyRemoteMember(op: 'add' | 'remove', name: string, userId: string): void {
    const r = this.remote.get(userId);
    const room = this.core.dir.rooms.get(name);
    if (!r || !room) return;
    if (op === 'add' ? r.rooms.has(name) : !r.rooms.has(name)) return;
    if (op === 'add') r.rooms.add(name);
    else r.rooms.delete(name);
    this.core.dir.toRoom(room, presenceFrame(op === 'add' ? 'join' : 'leave', r.info, name));
  }

  nodesDown(nodes: string[]): void {
    for (const node of nodes) {
      for (const info of this.remote.removeNode(node)) {
        if (!this.core.dir.users.has(info.id)) this.toAll(presenceFrame('offline', info));
      }
    }
  }

  /** Another node stored up to `offset` while it could not publish: fill it if a connection here follows the channel. */
  private async heads(channel: string, offset: number): Promise<void> {
    const seq = this.sequencer;
    if (!seq) return;
    const last = seq.last(channel);
    if (last !== undefined) {
      if (offset > last) seq.catchUp(channel);
      return;
    }
    const parsed = parseChannel(channel);
    if (parsed?.kind !== 'dm') return;
    for (const id of new Set(parsed.users)) {
      if (!this.core.dir.users.has(id)) continue;
      const delivered = await this.core.store.getDelivered(id);
      seq.catchUp(channel, delivered.get(channel) ?? 0);
      return;
    }
  }

  /** Redis came back: rooms, the others' presence, and every message this node's connections missed. */
  private async resync(final: boolean): Promise<void> {
    const { core } = this;
    try {
      const snapshot = await this.bus.snapshot();
      const { appeared, disappeared } = final ? this.remote.replace(snapshot) : { appeared: this.remote.merge(snapshot), disappeared: [] };
      for (const info of disappeared) if (!core.dir.users.has(info.id)) this.toAll(presenceFrame('offline', info));
      for (const info of appeared) if (!core.dir.users.has(info.id)) this.toAll(presenceFrame('online', info));
      if (final) return;
      for (const info of await core.store.listRooms()) this.addRoom(info);
      const seq = this.sequencer;
      if (!seq) return;
      for (const channel of seq.tracked()) seq.catchUp(channel);
      for (const user of [...core.dir.users.values()]) {
        const id = user.info.id;
        const [dms, delivered] = await Promise.all([core.store.dmChannelsOf(id), core.store.getDelivered(id)]);
        for (const channel of dms) if (seq.last(channel) === undefined) seq.catchUp(channel, delivered.get(channel) ?? 0);
      }
    } catch (err) {
      core.log.warn({ err }, 'resync after reconnect failed');
    }
  }
}
