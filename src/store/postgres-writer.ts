import pg from 'pg';
import type { PoolClient } from 'pg';
import { dmParticipants } from '../channels.js';
import { ProtocolError, StoreUnavailableError } from '../errors.js';
import type { StoredMessage } from '../types.js';
import { SQL, toMessage, type MessageRow } from './postgres-schema.js';
import type { AppendResult } from './store.js';

/** An append waiting for its transaction; `message.offset` is 0 until numbered there. */
export interface Draft {
  key: string;
  message: StoredMessage;
  /** Set inside the transaction, handed out only after COMMIT. */
  result: AppendResult | undefined;
}

/** One write waiting for the next group commit. */
export interface Pending {
  draft?: Draft;
  /** Runs inside the batch's transaction; may run again when the transaction is retried. */
  run?: (client: PoolClient) => Promise<void>;
  /** After COMMIT (err undefined) or the final failure, in call order. */
  settle(err: Error | undefined): void;
}

export interface Cursor {
  userId: string;
  channel: string;
  offset: number;
}

/** Deadlocks, serialization failures and a cid stored by another node meanwhile: a fresh attempt succeeds. */
const MAX_ATTEMPTS = 5;

/** A transaction that went without looking up repeats met one: it rolls back and goes again with the look-up. */
class RepeatFound extends Error {
  constructor() {
    super('a (sender, cid) of the batch is stored already');
    this.name = 'RepeatFound';
  }
}

/**
 * The write path of PostgresStore: writes queue here and commit in groups,
 * one transaction at a time, so offsets follow call order and every write
 * settles after COMMIT in the order it was queued.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private kick: NodeJS.Immediate | undefined;
  private busy = false;
  private drained: Promise<void> = Promise.resolve();
  /** setDelivered raises not yet in a transaction, merged per (user, channel). */
  private cursors = new Map<string, Cursor>();
  /** Raises in the transaction under way. */
  private inflightCursors: Cursor[] = [];
  /**
   * Whether the next transaction looks up repeats before it inserts. Most
   * batches have none, and skipping the look-up saves about a fifth of a
   * transaction's time; after a reconnect, when clients send their unacked
   * messages again, most have some, and the look-up saves a rollback.
   */
  private expectRepeats = true;

  constructor(
    private readonly pool: pg.Pool,
    private readonly batchMax: number,
  ) {}

  enqueue(p: Pending): void {
    this.queue.push(p);
    // The first write of an event-loop turn waits for the rest of that turn, so they share a commit;
    // while a transaction is under way the queue fills by itself.
    if (!this.busy) this.kick ??= setImmediate(() => {
      this.kick = undefined;
      this.startDrain();
    });
  }

  /** Remembers a cursor raise for the next transaction; one upsert per (user, channel) and batch, however many calls. */
  raise(userId: string, channel: string, offset: number): void {
    const key = `${userId}\u0000${channel}`;
    const merged = this.cursors.get(key);
    if (merged) merged.offset = Math.max(merged.offset, offset);
    else this.cursors.set(key, { userId, channel, offset });
  }

  /** Raises of this user not committed yet. */
  unwrittenCursors(userId: string): Cursor[] {
    return [...this.inflightCursors, ...this.cursors.values()].filter((c) => c.userId === userId);
  }

  /** Resolves once everything queued so far has committed or failed. */
  async flush(): Promise<void> {
    if (this.kick) clearImmediate(this.kick);
    this.kick = undefined;
    this.startDrain();
    await this.drained;
  }

  private startDrain(): void {
    if (this.busy) return;
    this.busy = true;
    this.drained = this.drain();
  }

  private async drain(): Promise<void> {
    for (;;) {
      const batch = this.queue.splice(0, this.batchMax);
      const cursors = [...this.cursors.values()];
      if (batch.length === 0 && cursors.length === 0) {
        // Synchronous with the check above: an enqueue after this sees busy false and kicks again.
        this.busy = false;
        return;
      }
      this.cursors = new Map();
      this.inflightCursors = cursors;
      try {
        await this.commit(batch, cursors);
      } catch (err) {
        // commit settles its writes itself; this is only a guard so that a bug cannot stall the queue.
        for (const p of batch) p.settle(storeError(err));
      }
      this.inflightCursors = [];
    }
  }

  /** One transaction for the batch, retried when that can succeed; settles every write of the batch. */
  private async commit(batch: Pending[], cursors: Cursor[]): Promise<void> {
    let failure: Error | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.transaction(batch, cursors);
        failure = undefined;
        break;
      } catch (err) {
        if ((err instanceof RepeatFound || retryable(err)) && attempt < MAX_ATTEMPTS) {
          this.expectRepeats = true;
          continue;
        }
        if (refusedData(err) && batch.length + cursors.length > 1) {
          // One write the database refuses (a NUL character, an over-long key) must not sink the others:
          // each goes alone, in call order, so the rest keep consecutive offsets.
          if (cursors.length > 0) await this.commit([], cursors);
          for (const p of batch) await this.commit([p], []);
          return;
        }
        failure = storeError(err);
        break;
      }
    }
    for (const p of batch) p.settle(failure);
  }

  private async transaction(batch: Pending[], cursors: Cursor[]): Promise<void> {
    const client = await this.pool.connect();
    let broken = false;
    // A checked-out client has no pool listener: a connection lost between two queries must not end the process.
    const onError = (): void => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      for (const p of batch) if (p.run) await p.run(client);
      const drafts = batch.flatMap((p) => (p.draft ? [p.draft] : []));
      if (drafts.length > 0) this.expectRepeats = await number(client, drafts, this.expectRepeats);
      if (cursors.length > 0) {
        await client.query(SQL.raiseDelivered, [cursors.map((c) => c.userId), cursors.map((c) => c.channel), cursors.map((c) => c.offset)]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }
}

/**
 * Numbers and inserts the batch's messages inside its transaction.
 *
 * Offsets come from `channels.last`, bumped by the batch's count with an
 * upsert. Its row lock lasts until COMMIT, so a second node appending to
 * the channel waits for this transaction and then reads the new value; a
 * rollback undoes the bump with the messages, so no offset is ever lost
 * (a sequence would leave a gap on rollback; max(seq) + 1 would give two
 * nodes the same offset; an advisory lock per channel would work too but
 * needs one more round trip and a hash of the channel name).
 *
 * Repeats of a (sender, cid) already stored are looked up first when
 * `lookUp` says so. One that was not (skipped, or stored by another node
 * after the look-up) is left out by the insert's ON CONFLICT, once that
 * node commits; the transaction then rolls back and goes again with the
 * look-up, so no offset is spent on it. Resolves to whether repeats were
 * found, which decides the next batch's look-up.
 */
async function number(client: PoolClient, drafts: Draft[], lookUp: boolean): Promise<boolean> {
  const stored = new Map<string, StoredMessage>();
  if (lookUp) {
    const found = await client.query<MessageRow>(SQL.bySenderCid, [drafts.map((d) => d.message.from.id), drafts.map((d) => d.message.cid)]);
    for (const row of found.rows) stored.set(`${row.sender}\u0000${row.cid}`, toMessage(row));
  }
  const fresh: Draft[] = [];
  const firstInBatch = new Map<string, Draft>();
  const repeats: Array<[Draft, Draft]> = [];
  const counts = new Map<string, number>();
  for (const d of drafts) {
    d.result = undefined;
    const earlier = stored.get(d.key);
    const original = firstInBatch.get(d.key);
    if (earlier) d.result = { message: earlier, duplicate: true };
    else if (original) repeats.push([d, original]);
    else {
      firstInBatch.set(d.key, d);
      fresh.push(d);
      counts.set(d.message.channel, (counts.get(d.message.channel) ?? 0) + 1);
    }
  }
  if (fresh.length === 0) return stored.size > 0;

  const channels = [...counts.keys()];
  const reserved = await client.query<{ channel: string; last: string }>(SQL.reserve, [channels, channels.map((c) => counts.get(c))]);
  const next = new Map<string, number>();
  for (const row of reserved.rows) next.set(row.channel, Number(row.last) - (counts.get(row.channel) ?? 0) + 1);
  // The transaction that writes offset 1 of a dm channel records who takes part, for dmChannelsOf.
  const dm: Array<[string, string]> = [];
  for (const channel of channels) if (next.get(channel) === 1) for (const user of dmParticipants(channel)) dm.push([user, channel]);
  for (const d of fresh) {
    const offset = next.get(d.message.channel);
    if (offset === undefined) throw new Error(`no offsets reserved for ${d.message.channel}`);
    d.message.offset = offset;
    next.set(d.message.channel, offset + 1);
  }
  const m = fresh.map((d) => d.message);
  const inserted = await client.query(SQL.insertMessages, [
    m.map((x) => x.channel), m.map((x) => x.offset), m.map((x) => x.id), m.map((x) => x.from.id),
    m.map((x) => x.from.name), m.map((x) => x.from.avatar), m.map((x) => JSON.stringify(x.to)),
    m.map((x) => x.type), m.map((x) => x.body), m.map((x) => x.ts), m.map((x) => x.cid),
  ]);
  // A row left out by ON CONFLICT is a repeat the look-up did not see (skipped, or stored since by another node).
  if (inserted.rowCount !== fresh.length) throw new RepeatFound();
  if (dm.length > 0) await client.query(SQL.insertDm, [dm.map(([u]) => u), dm.map(([, c]) => c)]);
  for (const d of fresh) d.result = { message: d.message, duplicate: false };
  for (const [d, original] of repeats) d.result = { message: original.message, duplicate: true };
  return stored.size > 0;
}

function sqlState(err: unknown): string | undefined {
  return err instanceof pg.DatabaseError ? err.code : undefined;
}

function retryable(err: unknown): boolean {
  const code = sqlState(err);
  if (code === '40001' || code === '40P01') return true;
  return code === '23505' && err instanceof pg.DatabaseError && err.constraint === 'messages_sender_cid';
}

/** The database refuses this data itself (class 22: data exception; 54: a key over the index row limit). */
function refusedData(err: unknown): boolean {
  const code = sqlState(err);
  return code !== undefined && (code.startsWith('22') || code.startsWith('54'));
}

/** What a caller sees: bad_request for data no retry can store, server_busy for everything else. */
export function storeError(err: unknown): Error {
  if (err instanceof StoreUnavailableError || err instanceof ProtocolError) return err;
  if (refusedData(err)) return new ProtocolError('bad_request', 'the database cannot store this (a NUL character, or a key too long)');
  return new StoreUnavailableError('the database cannot be used now', { cause: err });
}
