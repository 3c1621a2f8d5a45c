import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { dmParticipants } from '../channels.js';
import { StoreUnavailableError } from '../errors.js';
import type { NewMessage, RoomInfo, Sender, StoredMessage } from '../types.js';
import { applySchema, prepareStatements, toMessage, toRoom, type Statements } from './sqlite-schema.js';
import { type AppendResult, type GuestHold, type HistoryPage, type HistoryStore, type LoginKind, type ReplayPage, saveOutcome, type SavedUser, storedMessage } from './store.js';

export interface SqliteStoreOptions {
  dir: string;
  /** fsync every commit (survives power loss), not only a killed process. */
  fsync?: boolean;
  /** A batch this large is written at once instead of at the next turn of the event loop. */
  batchMax?: number;
}

/** One write waiting for the next group commit. */
interface Pending {
  /** Runs inside the batch's transaction. */
  run(): void;
  /** Runs after commit (err undefined) or rollback, in the order of the batch. */
  settle(err: StoreUnavailableError | undefined): void;
}

/** What the de-duplication cache remembers of a (sender, cid). */
interface SentEntry {
  channel: string;
  offset: number;
  /** Kept only while pending: committed bodies are re-read, so the cache stays small. */
  message: StoredMessage | undefined;
  state: 'pending' | 'committed' | 'failed';
}

/**
 * The cache serves retries of recent sends and duplicates still pending
 * (at most a batch or two); older retries find the row through the unique
 * (sender, cid) index, which every new cid is looked up in anyway. At about
 * 230 bytes an entry, 50,000 entries were 11 MiB of heap filled slowly over
 * tens of minutes of chat (half the server's heap in `npm run soak`).
 */
const DEDUP_CACHE_SIZE = 5_000;
/** Past this many cached channel heads, a committed state lets us drop them all (they reload lazily). */
const HEADS_CACHE_SIZE = 100_000;

/**
 * The durable HistoryStore: one SQLite file in WAL mode with group commit.
 * Offsets are assigned when `append` is called, from a per-channel head
 * cache, and every write of one event-loop turn commits in one transaction
 * before any of its promises settles. A failed transaction rejects the
 * whole batch and reloads the heads from disk, so offsets stay 1..N.
 */
export class SqliteStore implements HistoryStore {
  readonly kind = 'sqlite';
  private readonly dir: string;
  private readonly fsync: boolean;
  private readonly batchMax: number;
  private db: Database.Database | undefined;
  private st: Statements | undefined;
  private writeBatch: ((batch: Pending[]) => void) | undefined;
  private closed = false;

  private batch: Pending[] = [];
  /** setDelivered calls of the pending batch, merged per (user, channel): one upsert each. */
  private cursors = new Map<string, { userId: string; channel: string; offset: number }>();
  /** Users whose saveUser is in the pending batch. */
  private pendingUsers = new Set<string>();
  private flushTimer: NodeJS.Immediate | undefined;
  /** The last offset handed out per channel, pending ones included. */
  private readonly heads = new Map<string, number>();
  private readonly sent = new LRUCache<string, SentEntry>({ max: DEDUP_CACHE_SIZE });

  constructor(opts: SqliteStoreOptions) {
    this.dir = opts.dir;
    this.fsync = opts.fsync ?? false;
    this.batchMax = Math.max(1, opts.batchMax ?? 1000);
  }

  async init(): Promise<void> {
    if (this.db) return;
    mkdirSync(this.dir, { recursive: true });
    const db = new Database(join(this.dir, 'webim.sqlite'));
    try {
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode still writes every commit to the WAL before it
      // returns, which a killed process cannot undo; FULL adds an fsync per
      // commit for power loss, and group commit keeps that affordable.
      db.pragma(`synchronous = ${this.fsync ? 'FULL' : 'NORMAL'}`);
      // 4 MiB: the pages a chat touches are the newest ones, and the OS keeps the rest of the file cached for us; 16 MiB
      // made no difference to append throughput (bench:store) and filled the soak's RSS for ten minutes (docs/benchmarks.md, "Soak").
      db.pragma('cache_size = -4000');
      applySchema(db, `${this.dir}/webim.sqlite`);
      this.st = prepareStatements(db);
      this.writeBatch = db.transaction((batch: Pending[]) => {
        for (const p of batch) p.run();
      });
      this.db = db;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  append(msg: NewMessage): Promise<AppendResult> {
    try {
      const st = this.statements();
      const key = `${msg.from.id}\u0000${msg.cid}`;
      const existing = this.findSent(st, key, msg.from.id, msg.cid);
      if (existing) return this.answerDuplicate(existing.message, existing.entry);

      const channel = msg.channel;
      const offset = this.nextOffset(st, channel);
      const message = storedMessage(msg, offset);
      const entry: SentEntry = { channel, offset, message, state: 'pending' };
      this.sent.set(key, entry);
      const recipient = JSON.stringify(message.to);
      // The first message of a dm channel records who takes part, so that
      // dmChannelsOf is an index lookup rather than a scan of messages.
      const dmUsers = offset === 1 ? dmParticipants(channel) : undefined;
      return new Promise<AppendResult>((resolve, reject) => {
        this.enqueue({
          run: () => {
            const f = message.from;
            st.insertMessage.run(channel, offset, message.id, f.id, f.name, f.avatar, recipient,
              message.type, message.body, message.ts, message.cid);
            if (dmUsers) for (const user of dmUsers) st.insertDm.run(user, channel);
          },
          settle: (err) => {
            if (err) {
              entry.state = 'failed';
              if (this.sent.peek(key) === entry) this.sent.delete(key);
              // Reloaded from the table on next use: the rolled-back offsets are free again.
              this.heads.delete(channel);
              reject(err);
            } else {
              entry.state = 'committed';
              entry.message = undefined;
              resolve({ message, duplicate: false });
            }
          },
        });
      });
    } catch (err) {
      return Promise.reject(unavailable(err));
    }
  }

  async history(channel: string, before: number | undefined, limit: number): Promise<HistoryPage> {
    const n = Math.max(0, Math.floor(limit));
    const rows = this.statements().before.all(channel, before ?? Number.MAX_SAFE_INTEGER, n + 1);
    const more = rows.length > n;
    return { messages: rows.slice(0, n).reverse().map(toMessage), more };
  }

  async since(channel: string, after: number, limit: number): Promise<ReplayPage> {
    const n = Math.max(0, Math.floor(limit));
    const rows = this.statements().after.all(channel, after, n + 1);
    return { messages: rows.slice(0, n).reverse().map(toMessage), complete: rows.length <= n };
  }

  async head(channel: string): Promise<number> {
    // Committed head, like history and since: pending messages are not visible yet.
    return this.statements().maxOffset.get(channel)?.head ?? 0;
  }

  async listRooms(): Promise<RoomInfo[]> {
    return this.statements().listRooms.all().map(toRoom);
  }

  async getRoom(name: string): Promise<RoomInfo | undefined> {
    const row = this.statements().getRoom.get(name);
    return row && toRoom(row);
  }

  ensureRoom(room: RoomInfo): Promise<RoomInfo> {
    return this.write((st) => {
      st.insertRoom.run(room.name, room.title, room.membersOnly ? 1 : 0, room.createdAt);
      const row = st.getRoom.get(room.name);
      if (!row) throw new Error(`room ${room.name} vanished inside its own transaction`);
      return toRoom(row);
    });
  }

  deleteRoom(name: string): Promise<boolean> {
    // Messages stay, so a room created again under this name continues its offsets.
    return this.write((st) => {
      st.deleteMembersOfRoom.run(name);
      return st.deleteRoom.run(name).changes > 0;
    });
  }

  addMember(room: string, userId: string): Promise<void> {
    return this.write((st) => {
      st.addMember.run(room, userId);
    });
  }

  removeMember(room: string, userId: string): Promise<void> {
    return this.write((st) => {
      st.removeMember.run(room, userId);
    });
  }

  async roomsOf(userId: string): Promise<string[]> {
    return this.statements().roomsOf.all(userId);
  }

  async isMember(room: string, userId: string): Promise<boolean> {
    return this.statements().isMember.get(room, userId) !== undefined;
  }

  saveUser(user: Sender, via: LoginKind): Promise<SavedUser> {
    // A returning user whose profile is unchanged needs no write, nor does a
    // refused guest, so that login and its replay keep working while the
    // disk is full or read-only. Not while a save of this id is pending: the
    // write decides then, in call order.
    try {
      const row = this.pendingUsers.has(user.id) ? undefined : this.statements().getUser.get(user.id);
      const outcome = row && saveOutcome(row.token_user !== 0, via);
      if (outcome === 'refused' || (outcome === 'known' && row?.name === user.name && row.avatar === user.avatar)) {
        return Promise.resolve(outcome);
      }
    } catch (err) {
      return Promise.reject(unavailable(err));
    }
    this.pendingUsers.add(user.id);
    return this.write((st) => {
      const row = st.getUser.get(user.id);
      const outcome = saveOutcome(row && row.token_user !== 0, via);
      if (outcome !== 'refused') st.upsertUser.run(user.id, user.name, user.avatar, via === 'token' ? 1 : 0);
      return outcome;
    });
  }

  async guestHold(base: string): Promise<GuestHold | undefined> {
    const row = this.statements().getGuestHold.get(base);
    return row && { generation: row.generation, lastUsed: row.last_used };
  }

  swapGuestHold(base: string, expected: GuestHold | undefined, next: GuestHold): Promise<boolean> {
    return this.write((st) => {
      const swapped = expected === undefined
        ? st.insertGuestHold.run(base, next.generation, next.lastUsed)
        : st.swapGuestHold.run(next.generation, next.lastUsed, base, expected.generation, expected.lastUsed);
      return swapped.changes > 0;
    });
  }

  touchGuestHold(base: string, generation: number, at: number): Promise<void> {
    return this.write((st) => {
      st.touchGuestHold.run(at, base, generation);
    });
  }

  async getUser(id: string): Promise<Sender | undefined> {
    const row = this.statements().getUser.get(id);
    return row && { id: row.id, name: row.name, avatar: row.avatar };
  }

  async dmChannelsOf(userId: string): Promise<string[]> {
    return this.statements().dmOf.all(userId);
  }

  async getDelivered(userId: string): Promise<Map<string, number>> {
    const map = new Map<string, number>();
    for (const row of this.statements().getDelivered.all(userId)) map.set(row.channel, row.seq);
    // Raises not committed yet still count: the caller already handed those messages out.
    for (const c of this.cursors.values()) {
      if (c.userId === userId && c.offset > (map.get(c.channel) ?? 0)) map.set(c.channel, c.offset);
    }
    return map;
  }

  setDelivered(userId: string, channel: string, offset: number): Promise<void> {
    try {
      const st = this.statements();
      const key = `${userId}\u0000${channel}`;
      const merged = this.cursors.get(key);
      if (merged) {
        // One upsert per (user, channel) and batch, however many calls: it reads
        // merged.offset when the batch is written, after every raise so far.
        merged.offset = Math.max(merged.offset, offset);
        return this.write(() => undefined);
      }
      const cursor = { userId, channel, offset };
      this.cursors.set(key, cursor);
      return this.write(() => {
        st.raiseDelivered.run(cursor.userId, cursor.channel, cursor.offset);
      });
    } catch (err) {
      return Promise.reject(unavailable(err));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.db) return;
    this.flush();
    this.db.close();
    this.db = undefined;
    this.st = undefined;
  }

  private statements(): Statements {
    if (this.closed) throw new StoreUnavailableError('the store is closed');
    if (!this.st) throw new Error('SqliteStore used before init()');
    return this.st;
  }

  /** Queues a write for the next group commit; resolves with what it returned, after commit. */
  private write<T>(fn: (st: Statements) => T): Promise<T> {
    try {
      const st = this.statements();
      return new Promise<T>((resolve, reject) => {
        let result: T;
        let ran = false;
        this.enqueue({
          run: () => {
            result = fn(st);
            ran = true;
          },
          settle: (err) => {
            if (err) reject(err);
            else if (ran) resolve(result);
            else reject(new Error('a queued write settled without running'));
          },
        });
      });
    } catch (err) {
      return Promise.reject(unavailable(err));
    }
  }

  private enqueue(p: Pending): void {
    this.batch.push(p);
    if (this.batch.length >= this.batchMax) this.flush();
    else this.flushTimer ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.batch;
    if (batch.length === 0 || !this.writeBatch) return;
    this.batch = [];
    this.cursors = new Map();
    this.pendingUsers = new Set();
    let failure: StoreUnavailableError | undefined;
    try {
      this.writeBatch(batch);
    } catch (err) {
      failure = new StoreUnavailableError('the store could not write', { cause: err });
    }
    for (const p of batch) p.settle(failure);
    // Safe to forget only now that nothing is pending: every head is on disk.
    if (!failure && this.heads.size > HEADS_CACHE_SIZE) this.heads.clear();
  }

  private nextOffset(st: Statements, channel: string): number {
    const last = this.heads.get(channel) ?? st.maxOffset.get(channel)?.head ?? 0;
    this.heads.set(channel, last + 1);
    return last + 1;
  }

  /** The message already stored (or pending) for this sender and cid, if any. */
  private findSent(st: Statements, key: string, sender: string, cid: string):
    { message: StoredMessage; entry: SentEntry | undefined } | undefined {
    const hit = this.sent.get(key);
    if (hit?.state === 'pending' && hit.message) return { message: hit.message, entry: hit };
    let row = hit ? st.messageAt.get(hit.channel, hit.offset) : undefined;
    // The cache only points at a row; the unique index on (sender, cid) is the authority.
    if (!row || row.sender !== sender || row.cid !== cid) row = st.bySenderCid.get(sender, cid);
    if (!row) return undefined;
    this.sent.set(key, { channel: row.channel, offset: row.seq, message: undefined, state: 'committed' });
    return { message: toMessage(row), entry: undefined };
  }

  /**
   * A repeat goes through the queue like any append, so that it settles in
   * call order; it fails only with the batch of a still pending original.
   */
  private answerDuplicate(message: StoredMessage, original: SentEntry | undefined): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.enqueue({
        run: () => undefined,
        settle: (err) => {
          if (err && original?.state === 'failed') reject(err);
          else resolve({ message, duplicate: true });
        },
      });
    });
  }
}

function unavailable(err: unknown): Error {
  if (err instanceof StoreUnavailableError) return err;
  return new StoreUnavailableError('the store cannot be used now', { cause: err });
}
