import { randomBytes } from 'node:crypto';
import type { NewMessage, RoomInfo, Sender, StoredMessage } from '../types.js';

/** The answer of `append`: the stored message, and whether it was there already (same sender and cid). */
export interface AppendResult {
  message: StoredMessage;
  duplicate: boolean;
}

export interface HistoryPage {
  /** Oldest first. */
  messages: StoredMessage[];
  /** Older messages exist before the first one returned. */
  more: boolean;
}

export interface ReplayPage {
  /** Oldest first: the newest `limit` messages after the cursor. */
  messages: StoredMessage[];
  /** False when more than `limit` messages were newer than the cursor and the oldest were left out. */
  complete: boolean;
}

/**
 * How a login proved who it is: `token`, a token the host application
 * signed; `guest`, a name alone or a token webim issued to a guest (either
 * way nothing but the name vouches for the id).
 */
export type LoginKind = 'token' | 'guest';

/**
 * What `saveUser` did: `new`, the id was never seen (saved, and marked as a
 * token user for a token login); `known`, the profile was updated;
 * `first_token`, a token login of an id that until now had logged in only as
 * a guest (or before token users were remembered): it is marked from now on;
 * `refused`, a guest login of a token user's id: nothing was written.
 */
export type SavedUser = 'new' | 'known' | 'first_token' | 'refused';

/**
 * Who holds a guest name (src/core/guest-holds.ts), keyed by the name's
 * derived id: the identity's generation (1 for the first holder, then one
 * more each time the name is retired and taken again) and when it was last
 * used (ms since epoch: a login, or the end of its last connection).
 */
export interface GuestHold {
  generation: number;
  lastUsed: number;
}

/** Ids are 96 random bits in 16 base64url chars; bytes come from a pool, one syscall per 4096 ids. */
const ID_BYTES = 12;
let idPool = Buffer.alloc(0);
let idPos = 0;

export function newId(): string {
  if (idPos + ID_BYTES > idPool.length) {
    idPool = randomBytes(ID_BYTES * 4096);
    idPos = 0;
  }
  const id = idPool.toString('base64url', idPos, idPos + ID_BYTES);
  idPos += ID_BYTES;
  return id;
}

/** The stored form of a new message; every store gives it its id, offset and time the same way. */
export function storedMessage(msg: NewMessage, offset: number): StoredMessage {
  return {
    id: newId(),
    channel: msg.channel,
    offset,
    from: { id: msg.from.id, name: msg.from.name, avatar: msg.from.avatar },
    // Copied so that a caller reusing its object cannot rewrite history.
    to: { ...msg.to },
    type: msg.type,
    body: msg.body,
    ts: Date.now(),
    cid: msg.cid,
  };
}

/** What a save does, from what the store held: `wasToken` undefined for an id never seen, else whether it is a token user's. */
export function saveOutcome(wasToken: boolean | undefined, via: LoginKind): SavedUser {
  if (wasToken === undefined) return 'new';
  if (via === 'guest') return wasToken ? 'refused' : 'known';
  return wasToken ? 'known' : 'first_token';
}

/**
 * Durable state of the chat: messages with per-channel offsets 1..N,
 * rooms, memberships, known users and the per-user delivery cursors of
 * private channels. Every implementation passes test/store-suite.ts.
 *
 * Contract the core relies on:
 * - `append` resolves only once the message is durable, and assigns
 *   offsets in the order `append` was called on this store instance, so
 *   that messages pipelined on one connection keep their order.
 * - Promises of `append` calls resolve in the order of their offsets
 *   within a channel.
 * - `(from.id, cid)` is unique: a repeat resolves to the first message
 *   with `duplicate: true`, across restarts.
 */
export interface HistoryStore {
  readonly kind: string;
  init(): Promise<void>;
  append(msg: NewMessage): Promise<AppendResult>;
  /** Messages before `before` (exclusive; all when absent), the newest `limit` of them, oldest first. */
  history(channel: string, before: number | undefined, limit: number): Promise<HistoryPage>;
  /** Messages after offset `after`, at most the newest `limit`, oldest first. */
  since(channel: string, after: number, limit: number): Promise<ReplayPage>;
  /** The highest offset of a channel, 0 when it has none. */
  head(channel: string): Promise<number>;

  listRooms(): Promise<RoomInfo[]>;
  getRoom(name: string): Promise<RoomInfo | undefined>;
  /** Creates the room if it does not exist; resolves to the room as stored. */
  ensureRoom(room: RoomInfo): Promise<RoomInfo>;
  deleteRoom(name: string): Promise<boolean>;

  addMember(room: string, userId: string): Promise<void>;
  removeMember(room: string, userId: string): Promise<void>;
  roomsOf(userId: string): Promise<string[]>;
  isMember(room: string, userId: string): Promise<boolean>;

  /**
   * Remembers a user's profile at login. A token login marks the id as a
   * token user for good; a guest login of a token user's id is refused and
   * writes nothing, atomically with respect to a token login of that id on
   * any node, so a guest can never take over a token user's id.
   */
  saveUser(user: Sender, via: LoginKind): Promise<SavedUser>;
  /** The hold of a guest name (by its derived id), or undefined for a name no guest has held since holds were kept. */
  guestHold(base: string): Promise<GuestHold | undefined>;
  /**
   * Sets the hold of a guest name to `next` if it is still `expected`
   * (undefined: no hold yet), atomically on every node; false when another
   * login changed it first, and then nothing was written.
   */
  swapGuestHold(base: string, expected: GuestHold | undefined, next: GuestHold): Promise<boolean>;
  /** Marks generation `generation` of a guest name used at `at` (never moves lastUsed back); nothing if the name has moved on. */
  touchGuestHold(base: string, generation: number, at: number): Promise<void>;
  /** The profile last saved for a user id, or undefined for a user never seen. */
  getUser(id: string): Promise<Sender | undefined>;
  /** The `dm:` channels that have at least one message and include this user. */
  dmChannelsOf(userId: string): Promise<string[]>;
  /** Per private channel, the last offset handed to one of the user's connections. */
  getDelivered(userId: string): Promise<Map<string, number>>;
  /** Raises the remembered offset (never lowers it). */
  setDelivered(userId: string, channel: string, offset: number): Promise<void>;

  /** Waits for every pending write and releases the store. */
  close(): Promise<void>;
}
