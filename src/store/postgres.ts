import pg from 'pg';
import type { PoolClient } from 'pg';
import { StartupError, StoreUnavailableError } from '../errors.js';
import type { NewMessage, RoomInfo, Sender } from '../types.js';
import { migrate, redactUrl, SQL, toMessage, toRoom, type MessageRow, type RoomRow } from './postgres-schema.js';
import { GroupCommit, storeError, type Draft } from './postgres-writer.js';
import { type AppendResult, type GuestHold, type HistoryPage, type HistoryStore, type LoginKind, type ReplayPage, saveOutcome, type SavedUser, storedMessage } from './store.js';

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Connections at most: one carries the group commits, the rest serve reads. */
  poolSize?: number;
  /** Writes in one transaction at most. */
  batchMax?: number;
  /** ms to wait for a new connection before a call fails with StoreUnavailableError. */
  connectTimeout?: number;
}

/**
 * The HistoryStore several webim nodes share: PostgreSQL through a small
 * pg.Pool. Writes go through GroupCommit (postgres-writer.ts): queued,
 * committed in groups one transaction at a time, settled in call order
 * after COMMIT, with offsets from a per-channel counter row that keeps
 * them 1..N without gaps whatever number of nodes append at once. Reads
 * go to the pool directly and see what is committed.
 */
export class PostgresStore implements HistoryStore {
  readonly kind = 'postgres';
  private readonly url: string;
  private readonly poolSize: number;
  private readonly batchMax: number;
  private readonly connectTimeout: number;
  private pool: pg.Pool | undefined;
  private writer: GroupCommit | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(opts: PostgresStoreOptions) {
    this.url = opts.url;
    this.poolSize = Math.max(2, opts.poolSize ?? 4);
    this.batchMax = Math.max(1, opts.batchMax ?? 1000);
    this.connectTimeout = opts.connectTimeout ?? 5000;
  }

  async init(): Promise<void> {
    if (this.pool) return;
    const where = redactUrl(this.url);
    const pool = new pg.Pool({
      connectionString: this.url,
      max: this.poolSize,
      connectionTimeoutMillis: this.connectTimeout,
      idleTimeoutMillis: 30_000,
      // A database host that vanishes without a reset must not hold a commit forever; a repeat of a
      // message whose COMMIT outcome was lost is caught by (sender, cid).
      query_timeout: 30_000,
      keepAlive: true,
      application_name: 'webim',
    });
    // An idle connection that dies (database restart, network) is dropped by the pool, which opens a new
    // one on demand; without a listener the 'error' event would end the process.
    pool.on('error', () => undefined);
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new StartupError(`cannot connect to PostgreSQL at ${where}: ${describe(err)}`, { cause: err });
    }
    try {
      await migrate(client);
      client.release();
    } catch (err) {
      client.release(true);
      await pool.end().catch(() => undefined);
      throw new StartupError(`cannot set up the webim tables in ${where}: ${describe(err)}`, { cause: err });
    }
    this.pool = pool;
    this.writer = new GroupCommit(pool, this.batchMax);
  }

  append(msg: NewMessage): Promise<AppendResult> {
    const writer = this.writerOrError();
    if (writer instanceof Error) return Promise.reject(writer);
    const draft: Draft = {
      key: `${msg.from.id}\u0000${msg.cid}`,
      message: storedMessage(msg, 0),
      result: undefined,
    };
    return new Promise<AppendResult>((resolve, reject) => {
      writer.enqueue({
        draft,
        settle: (err) => {
          if (err) reject(err);
          else if (draft.result) resolve(draft.result);
          else reject(new Error('an append settled without a result'));
        },
      });
    });
  }

  async history(channel: string, before: number | undefined, limit: number): Promise<HistoryPage> {
    const n = Math.max(0, Math.floor(limit));
    const rows = await this.rows<MessageRow>(SQL.before, [channel, before ?? Number.MAX_SAFE_INTEGER, n + 1]);
    return { messages: rows.slice(0, n).reverse().map(toMessage), more: rows.length > n };
  }

  async since(channel: string, after: number, limit: number): Promise<ReplayPage> {
    const n = Math.max(0, Math.floor(limit));
    const rows = await this.rows<MessageRow>(SQL.after, [channel, after, n + 1]);
    return { messages: rows.slice(0, n).reverse().map(toMessage), complete: rows.length <= n };
  }

  async head(channel: string): Promise<number> {
    // The counter moves in the transaction that inserts, so it is the committed head.
    const [row] = await this.rows<{ last: string }>(SQL.head, [channel]);
    return row ? Number(row.last) : 0;
  }

  async listRooms(): Promise<RoomInfo[]> {
    return (await this.rows<RoomRow>(SQL.listRooms, [])).map(toRoom);
  }

  async getRoom(name: string): Promise<RoomInfo | undefined> {
    const [row] = await this.rows<RoomRow>(SQL.getRoom, [name]);
    return row && toRoom(row);
  }

  ensureRoom(room: RoomInfo): Promise<RoomInfo> {
    return this.write(async (c) => {
      await c.query(SQL.insertRoom, [room.name, room.title, room.membersOnly, room.createdAt]);
      const [row] = (await c.query<RoomRow>(SQL.getRoom, [room.name])).rows;
      if (!row) throw new Error(`room ${room.name} vanished inside its own transaction`);
      return toRoom(row);
    });
  }

  deleteRoom(name: string): Promise<boolean> {
    // Messages and the channel counter stay, so a room created again under this name continues its offsets.
    return this.write(async (c) => {
      await c.query(SQL.deleteMembersOfRoom, [name]);
      return ((await c.query(SQL.deleteRoom, [name])).rowCount ?? 0) > 0;
    });
  }

  addMember(room: string, userId: string): Promise<void> {
    return this.write(async (c) => {
      await c.query(SQL.addMember, [room, userId]);
    });
  }

  removeMember(room: string, userId: string): Promise<void> {
    return this.write(async (c) => {
      await c.query(SQL.removeMember, [room, userId]);
    });
  }

  async roomsOf(userId: string): Promise<string[]> {
    return (await this.rows<{ room: string }>(SQL.roomsOf, [userId])).map((r) => r.room);
  }

  async isMember(room: string, userId: string): Promise<boolean> {
    return (await this.rows(SQL.isMember, [room, userId])).length > 0;
  }

  saveUser(user: Sender, via: LoginKind): Promise<SavedUser> {
    return this.write(async (c) => {
      const values = [user.id, user.name, user.avatar, via === 'token'];
      const [row] = (await c.query<{ inserted: boolean; was_token: boolean | null }>(SQL.upsertUser, values)).rows;
      if (!row) return 'refused';
      // A row another node inserted after this statement's snapshot has no `was_token`: then a guest
      // save found no mark (it was not refused), and a token save counts as the first, which costs a check.
      return saveOutcome(row.inserted ? undefined : row.was_token === true, via);
    });
  }

  async guestHold(base: string): Promise<GuestHold | undefined> {
    const [row] = await this.rows<{ generation: number; last_used: string }>(SQL.getGuestHold, [base]);
    return row && { generation: row.generation, lastUsed: Number(row.last_used) };
  }

  swapGuestHold(base: string, expected: GuestHold | undefined, next: GuestHold): Promise<boolean> {
    return this.write(async (c) => {
      const done = expected === undefined
        ? await c.query(SQL.insertGuestHold, [base, next.generation, next.lastUsed])
        : await c.query(SQL.swapGuestHold, [next.generation, next.lastUsed, base, expected.generation, expected.lastUsed]);
      return (done.rowCount ?? 0) > 0;
    });
  }

  touchGuestHold(base: string, generation: number, at: number): Promise<void> {
    return this.write(async (c) => {
      await c.query(SQL.touchGuestHold, [at, base, generation]);
    });
  }

  async getUser(id: string): Promise<Sender | undefined> {
    const [row] = await this.rows<Sender>(SQL.getUser, [id]);
    return row && { id: row.id, name: row.name, avatar: row.avatar };
  }

  async dmChannelsOf(userId: string): Promise<string[]> {
    return (await this.rows<{ channel: string }>(SQL.dmOf, [userId])).map((r) => r.channel);
  }

  async getDelivered(userId: string): Promise<Map<string, number>> {
    // Taken before the query: a raise committed meanwhile is then in the rows, or else in this copy.
    const unwritten = this.writer?.unwrittenCursors(userId) ?? [];
    const map = new Map<string, number>();
    for (const row of await this.rows<{ channel: string; seq: string }>(SQL.getDelivered, [userId])) {
      map.set(row.channel, Number(row.seq));
    }
    // Raises not committed yet still count: the caller already handed those messages out.
    for (const c of unwritten) if (c.offset > (map.get(c.channel) ?? 0)) map.set(c.channel, c.offset);
    return map;
  }

  setDelivered(userId: string, channel: string, offset: number): Promise<void> {
    const writer = this.writerOrError();
    if (writer instanceof Error) return Promise.reject(writer);
    writer.raise(userId, channel, offset);
    // Settles with the transaction that carries the raise (or a later one).
    return new Promise<void>((resolve, reject) => {
      writer.enqueue({ settle: (err) => (err ? reject(err) : resolve()) });
    });
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      // Queued writes still commit (or fail) before the pool goes.
      await this.writer?.flush();
      await this.pool?.end();
      this.pool = undefined;
    })();
    return this.closing;
  }

  private writerOrError(): GroupCommit | Error {
    if (this.closed) return new StoreUnavailableError('the store is closed');
    return this.writer ?? new Error('PostgresStore used before init()');
  }

  private async rows<R extends object>(text: string, values: unknown[]): Promise<R[]> {
    const pool = this.pool;
    if (this.closed) throw new StoreUnavailableError('the store is closed');
    if (!pool) throw new Error('PostgresStore used before init()');
    try {
      return (await pool.query<R>(text, values)).rows;
    } catch (err) {
      throw storeError(err);
    }
  }

  /** Queues a write for the next group commit; resolves with what it returned, after COMMIT. */
  private write<T>(run: (client: PoolClient) => Promise<T>): Promise<T> {
    const writer = this.writerOrError();
    if (writer instanceof Error) return Promise.reject(writer);
    return new Promise<T>((resolve, reject) => {
      let result: { value: T } | undefined;
      writer.enqueue({
        run: async (client) => {
          result = { value: await run(client) };
        },
        settle: (err) => {
          if (err) reject(err);
          else if (result) resolve(result.value);
          else reject(new Error('a queued write settled without running'));
        },
      });
    });
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // An AggregateError (every address of a host name refused) has an empty message but a code.
  return err.message || (err as NodeJS.ErrnoException).code || err.name;
}
