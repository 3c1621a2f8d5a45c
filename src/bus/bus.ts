/**
 * The cross-node bus: everything one node's hub does that users on other
 * nodes must see (stored messages, presence, typing, kicks, admin changes
 * to rooms and memberships), and the cluster-wide presence registry behind
 * the online list and `name_taken`.
 *
 * Each node publishes an event once and delivers it to its own connections
 * itself; every other node delivers it to theirs. A message goes on the
 * bus only after the store's append resolved, carrying the frame already
 * serialized, so no node encodes it again.
 *
 * Two implementations: LocalBus (src/bus/local.ts: one node, nothing
 * crosses, what webim did before there was a bus) and RedisBus
 * (src/bus/redis.ts: Redis pub/sub and keys, `--redis`); src/bus/open.ts
 * picks one from the configuration. This file is the interface alone, so
 * that the implementations and the core depend on it and not on each other.
 */
import type { ByeCode } from '../errors.js';
import type { RoomInfo, Target, UserInfo } from '../types.js';

export type BusEvent =
  /** A stored message, its `message` frame serialized once by the node that stored it. */
  | { k: 'message'; channel: string; offset: number; frame: string }
  /** `online`, `offline` or `status` of a user on the sending node; `rooms` with `online`. */
  | { k: 'presence'; event: 'online' | 'offline' | 'status'; user: UserInfo; rooms?: string[]; frame: string }
  /** A user of the sending node joined or left a room (their other nodes follow). */
  | { k: 'membership'; event: 'join' | 'leave'; user: UserInfo; room: string; frame: string }
  | { k: 'typing'; from: string; to: Target; frame: string }
  /**
   * Admin: end every connection of a user (`bye` `kicked`, or the server
   * API's `bye` and reason). `guests`: a token login: end only a guest
   * session of the id.
   */
  | { k: 'kick'; user: string; guests?: true; bye?: ByeCode; reason?: string }
  /** A room was created (or changed); nodes add it to their directory. */
  | { k: 'room'; info: RoomInfo }
  /** Admin: a room was deleted; its members online get `left` with `reason: "deleted"`. */
  | { k: 'room-deleted'; room: string }
  /** Admin: a membership was granted or revoked. */
  | { k: 'member'; op: 'add' | 'remove'; room: string; user: string }
  /** After a Redis outage: the newest offsets the sender stored while its publishes could not go out. */
  | { k: 'heads'; heads: Array<[string, number]> }
  /** The sending node stops (clean shutdown): its users are gone with it. */
  | { k: 'node-down' };

/** An event as it arrives: with the id of the node that published it. */
export interface BusEnvelope {
  node: string;
  event: BusEvent;
  /** When it was published (ms since epoch, the publisher's clock): for `webim_bus_lag_seconds`. */
  at?: number;
}

/** What the presence registry keeps of a user online on some node. */
export interface PresenceRecord {
  user: UserInfo;
  rooms: string[];
}

export interface BusHandlers {
  /** An event from another node (never this node's own). */
  event(env: BusEnvelope): void;
  /**
   * The bus reconnected after being away: the node fills what it missed
   * and reloads the others' presence. First at once (`final` false: only
   * users found online are added, since the other nodes may not have
   * registered again yet), then once more after the node timeout (`final`
   * true: whoever is still missing went offline meanwhile).
   */
  resync(final: boolean): void;
  /** Nodes found dead (heartbeat expired): their users are offline. */
  nodesDown(nodes: string[]): void;
  /** This node's users, registered again after Redis came back (it may have lost everything). */
  records(): PresenceRecord[];
}

export interface Bus {
  /** This node's id, unique per process start. */
  readonly nodeId: string;
  /** False for LocalBus: nothing crosses, and the hub skips what only several nodes need. */
  readonly distributed: boolean;
  start(handlers: BusHandlers): Promise<void>;
  /** Fire and forget: an event that cannot go out now is covered by `heads` and gap filling on reconnect. */
  publish(event: BusEvent): void;
  /** Whether the bus reaches the other nodes now. */
  readonly connected: boolean;

  /**
   * Records a user as online on this node. With `exclusive` (a guest login
   * without a token) it fails, atomically, when any node holds the user
   * already. Resolves true when recorded (or when the registry cannot be
   * reached: the node keeps serving its own clients).
   */
  claim(record: PresenceRecord, exclusive: boolean): Promise<boolean>;
  /** Updates the record of a user this node holds (status, rooms). */
  update(record: PresenceRecord): void;
  /** The user has no connection on this node any more. */
  release(userId: string): void;
  /** Every other live node's users. */
  snapshot(): Promise<Map<string, PresenceRecord[]>>;

  /** Removes this node's records and disconnects. */
  close(): Promise<void>;
}
