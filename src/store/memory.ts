import { parseChannel } from '../channels.js';
import { StoreUnavailableError } from '../errors.js';
import type { NewMessage, RoomInfo, Sender, StoredMessage } from '../types.js';
import { type AppendResult, type GuestHold, type HistoryPage, type HistoryStore, type LoginKind, type ReplayPage, saveOutcome, type SavedUser, storedMessage } from './store.js';

/**
 * A HistoryStore that keeps everything in Maps and forgets it on exit: for
 * tests, demos and `--store memory`. Every write is applied synchronously,
 * so offsets and de-duplication follow call order without any queue; the
 * promises only make the API match the durable stores.
 */
export class MemoryStore implements HistoryStore {
  readonly kind = 'memory';

  /** Per channel, the message with offset N sits at index N - 1. */
  private readonly channels = new Map<string, StoredMessage[]>();
  private readonly bySenderCid = new Map<string, StoredMessage>();
  private readonly rooms = new Map<string, RoomInfo>();
  private readonly membersOf = new Map<string, Set<string>>();
  private readonly roomsOfUser = new Map<string, Set<string>>();
  private readonly users = new Map<string, Sender>();
  /** Ids that have logged in with a host application's token. */
  private readonly tokenUsers = new Set<string>();
  private readonly dmOfUser = new Map<string, Set<string>>();
  private readonly guestHolds = new Map<string, GuestHold>();
  private readonly delivered = new Map<string, Map<string, number>>();
  private closed = false;

  async init(): Promise<void> {
    // Nothing to load: the store starts empty by design.
  }

  append(msg: NewMessage): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the store is closed'));
    const key = `${msg.from.id}\u0000${msg.cid}`;
    const existing = this.bySenderCid.get(key);
    // An already resolved promise still settles in a later microtask, and
    // microtasks run in the order they were queued, so call order holds.
    if (existing) return Promise.resolve({ message: existing, duplicate: true });

    let list = this.channels.get(msg.channel);
    if (!list) {
      list = [];
      this.channels.set(msg.channel, list);
      const parsed = parseChannel(msg.channel);
      if (parsed?.kind === 'dm') {
        for (const user of parsed.users) addTo(this.dmOfUser, user, msg.channel);
      }
    }
    const message = storedMessage(msg, list.length + 1);
    list.push(message);
    this.bySenderCid.set(key, message);
    return Promise.resolve({ message, duplicate: false });
  }

  async history(channel: string, before: number | undefined, limit: number): Promise<HistoryPage> {
    const list = this.channels.get(channel) ?? [];
    // Offsets are 1..N with no gaps, so offset `before` is index before - 1.
    const end = before === undefined ? list.length : Math.max(0, Math.min(list.length, before - 1));
    const start = Math.max(0, end - Math.max(0, limit));
    return { messages: list.slice(start, end), more: start > 0 };
  }

  async since(channel: string, after: number, limit: number): Promise<ReplayPage> {
    const list = this.channels.get(channel) ?? [];
    const first = Math.max(0, after);
    const start = Math.max(first, list.length - Math.max(0, limit));
    return { messages: list.slice(start), complete: start <= first };
  }

  async head(channel: string): Promise<number> {
    return this.channels.get(channel)?.length ?? 0;
  }

  async listRooms(): Promise<RoomInfo[]> {
    return [...this.rooms.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(copyRoom);
  }

  async getRoom(name: string): Promise<RoomInfo | undefined> {
    const room = this.rooms.get(name);
    return room && copyRoom(room);
  }

  async ensureRoom(room: RoomInfo): Promise<RoomInfo> {
    let stored = this.rooms.get(room.name);
    if (!stored) {
      stored = copyRoom(room);
      this.rooms.set(room.name, stored);
    }
    return copyRoom(stored);
  }

  async deleteRoom(name: string): Promise<boolean> {
    if (!this.rooms.delete(name)) return false;
    // Memberships go with the room; its messages stay so that a room
    // created again under that name continues its offsets without reuse.
    for (const user of this.membersOf.get(name) ?? []) this.roomsOfUser.get(user)?.delete(name);
    this.membersOf.delete(name);
    return true;
  }

  async addMember(room: string, userId: string): Promise<void> {
    addTo(this.membersOf, room, userId);
    addTo(this.roomsOfUser, userId, room);
  }

  async removeMember(room: string, userId: string): Promise<void> {
    this.membersOf.get(room)?.delete(userId);
    this.roomsOfUser.get(userId)?.delete(room);
  }

  async roomsOf(userId: string): Promise<string[]> {
    return [...(this.roomsOfUser.get(userId) ?? [])].sort();
  }

  async isMember(room: string, userId: string): Promise<boolean> {
    return this.membersOf.get(room)?.has(userId) ?? false;
  }

  async saveUser(user: Sender, via: LoginKind): Promise<SavedUser> {
    const outcome = saveOutcome(this.users.has(user.id) ? this.tokenUsers.has(user.id) : undefined, via);
    if (outcome === 'refused') return outcome;
    this.users.set(user.id, { id: user.id, name: user.name, avatar: user.avatar });
    if (via === 'token') this.tokenUsers.add(user.id);
    return outcome;
  }

  async guestHold(base: string): Promise<GuestHold | undefined> {
    const hold = this.guestHolds.get(base);
    return hold && { ...hold };
  }

  async swapGuestHold(base: string, expected: GuestHold | undefined, next: GuestHold): Promise<boolean> {
    const now = this.guestHolds.get(base);
    const same = now === undefined ? expected === undefined : expected !== undefined && sameHold(now, expected);
    if (same) this.guestHolds.set(base, { generation: next.generation, lastUsed: next.lastUsed });
    return same;
  }

  async touchGuestHold(base: string, generation: number, at: number): Promise<void> {
    const hold = this.guestHolds.get(base);
    if (hold?.generation === generation && hold.lastUsed < at) hold.lastUsed = at;
  }

  async getUser(id: string): Promise<Sender | undefined> {
    const user = this.users.get(id);
    return user && { ...user };
  }

  async dmChannelsOf(userId: string): Promise<string[]> {
    return [...(this.dmOfUser.get(userId) ?? [])].sort();
  }

  async getDelivered(userId: string): Promise<Map<string, number>> {
    return new Map(this.delivered.get(userId));
  }

  async setDelivered(userId: string, channel: string, offset: number): Promise<void> {
    let cursors = this.delivered.get(userId);
    if (!cursors) {
      cursors = new Map();
      this.delivered.set(userId, cursors);
    }
    if (offset > (cursors.get(channel) ?? 0)) cursors.set(channel, offset);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

function copyRoom(room: RoomInfo): RoomInfo {
  return { name: room.name, title: room.title, membersOnly: room.membersOnly, createdAt: room.createdAt };
}

function sameHold(a: GuestHold, b: GuestHold): boolean {
  return a.generation === b.generation && a.lastUsed === b.lastUsed;
}
