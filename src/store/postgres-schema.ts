import type { ClientBase } from 'pg';
import type { MessageType, RoomInfo, StoredMessage, Target } from '../types.js';

/**
 * The tables of PostgresStore, how they are created or migrated on start,
 * the SQL it runs, and how rows map to the shared types.
 *
 * To change a table: append a step to MIGRATIONS (never edit a step that
 * has shipped); SCHEMA_VERSION follows from its length.
 */

/** Step i takes the schema from version i to version i + 1. */
const MIGRATIONS: readonly string[] = [
  // `seq` rather than `offset` (an SQL keyword). `channels.last` is the
  // per-channel counter every append increments in its own transaction:
  // see `number` in postgres-writer.ts for why offsets come from it and not from a
  // sequence or max(seq).
  `
  CREATE TABLE channels (
    channel text PRIMARY KEY,
    last bigint NOT NULL
  );
  CREATE TABLE messages (
    channel text NOT NULL,
    seq bigint NOT NULL,
    id text NOT NULL,
    sender text NOT NULL,
    sender_name text NOT NULL,
    sender_avatar text NOT NULL,
    recipient jsonb NOT NULL,
    type text NOT NULL,
    body text NOT NULL,
    ts bigint NOT NULL,
    cid text NOT NULL,
    PRIMARY KEY (channel, seq)
  );
  CREATE UNIQUE INDEX messages_sender_cid ON messages (sender, cid);
  CREATE TABLE rooms (
    name text PRIMARY KEY,
    title text NOT NULL,
    members_only boolean NOT NULL,
    created_at bigint NOT NULL
  );
  CREATE TABLE memberships (
    room text NOT NULL,
    user_id text NOT NULL,
    PRIMARY KEY (room, user_id)
  );
  CREATE INDEX memberships_user ON memberships (user_id, room);
  CREATE TABLE users (
    id text PRIMARY KEY,
    name text NOT NULL,
    avatar text NOT NULL
  );
  CREATE TABLE dm_channels (
    user_id text NOT NULL,
    channel text NOT NULL,
    PRIMARY KEY (user_id, channel)
  );
  CREATE TABLE delivered (
    user_id text NOT NULL,
    channel text NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (user_id, channel)
  );
  `,
  // Ids that logged in with a host application's token: guests may not take them (src/core/login.ts).
  'ALTER TABLE users ADD COLUMN token_user boolean NOT NULL DEFAULT false',
  // Guest names held for their identity (src/core/guest-holds.ts). Guests who logged in before holds
  // existed are entered as long unused, so the next guest of such a name is a new identity, not them.
  `CREATE TABLE guest_holds (base text PRIMARY KEY, generation integer NOT NULL, last_used bigint NOT NULL);
   INSERT INTO guest_holds (base, generation, last_used) SELECT id, 1, 0 FROM users WHERE NOT token_user`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Any constant works as long as every webim node uses the same one; this is "webim" in ASCII. */
const MIGRATION_LOCK = 0x7765_6269_6d;

/**
 * Creates the tables, or brings older ones up to SCHEMA_VERSION, in one
 * transaction. Nodes starting together queue on a transaction-level
 * advisory lock, so only the first migrates and the others find the
 * version already current; a failed step rolls everything back.
 */
export async function migrate(client: ClientBase): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK]);
    // The CHECK keeps the table to one row.
    await client.query('CREATE TABLE IF NOT EXISTS schema_version (one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL)');
    const found = await client.query<{ version: number }>('SELECT version FROM schema_version');
    const current = found.rows[0]?.version ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new Error(`the database has webim schema version ${current}, newer than this webim (${SCHEMA_VERSION})`);
    }
    for (let v = current; v < SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v] as string);
    if (current !== SCHEMA_VERSION) {
      await client.query(
        'INSERT INTO schema_version (version) VALUES ($1) ON CONFLICT (one) DO UPDATE SET version = excluded.version',
        [SCHEMA_VERSION],
      );
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

const MESSAGE_COLUMNS = 'channel, seq, id, sender, sender_name, sender_avatar, recipient, type, body, ts, cid';

export const SQL = {
  /** The stored messages among a batch's (sender, cid) pairs: those are repeats. */
  bySenderCid: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE (sender, cid) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
  /**
   * Reserves `n` offsets per channel: the row lock taken here is held to
   * COMMIT. Rows are locked in one fixed order (by channel, bytewise) so
   * that two nodes whose batches share channels queue instead of deadlocking.
   */
  reserve: `INSERT INTO channels (channel, last)
    SELECT channel, n FROM unnest($1::text[], $2::bigint[]) AS c(channel, n) ORDER BY channel COLLATE "C"
    ON CONFLICT (channel) DO UPDATE SET last = channels.last + excluded.last
    RETURNING channel, last`,
  insertMessages: `INSERT INTO messages (${MESSAGE_COLUMNS})
    SELECT channel, seq, id, sender, sender_name, sender_avatar, recipient::jsonb, type, body, ts, cid
    FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[])
      AS m(channel, seq, id, sender, sender_name, sender_avatar, recipient, type, body, ts, cid)
    ON CONFLICT (sender, cid) DO NOTHING`,
  insertDm: `INSERT INTO dm_channels (user_id, channel) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`,
  head: 'SELECT last FROM channels WHERE channel = $1',
  // Newest first so that LIMIT keeps the newest; callers reverse the page.
  before: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE channel = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
  after: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE channel = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3`,
  dmOf: 'SELECT channel FROM dm_channels WHERE user_id = $1 ORDER BY channel COLLATE "C"',
  listRooms: 'SELECT name, title, members_only, created_at FROM rooms ORDER BY name COLLATE "C"',
  getRoom: 'SELECT name, title, members_only, created_at FROM rooms WHERE name = $1',
  insertRoom: 'INSERT INTO rooms (name, title, members_only, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING',
  deleteRoom: 'DELETE FROM rooms WHERE name = $1',
  deleteMembersOfRoom: 'DELETE FROM memberships WHERE room = $1',
  addMember: 'INSERT INTO memberships (room, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
  removeMember: 'DELETE FROM memberships WHERE room = $1 AND user_id = $2',
  roomsOf: 'SELECT room FROM memberships WHERE user_id = $1 ORDER BY room COLLATE "C"',
  isMember: 'SELECT 1 FROM memberships WHERE room = $1 AND user_id = $2',
  getUser: 'SELECT id, name, avatar FROM users WHERE id = $1',
  /**
   * One statement, so that no node can come between the check and the
   * write. xmax is 0 on a row this statement inserted and set on one it
   * updated: "was it new". A guest save ($4 false) of a token user's id
   * updates nothing and returns no row: refused, decided on the row as
   * locked, whatever committed meanwhile. `was_token` is the mark in the
   * statement's snapshot (null when the row was not there yet): since the
   * mark is never cleared, it can only make a token save look like the
   * first one, never hide the first.
   */
  upsertUser: `WITH old AS (SELECT token_user FROM users WHERE id = $1)
    INSERT INTO users (id, name, avatar, token_user) VALUES ($1, $2, $3, $4)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, avatar = excluded.avatar, token_user = users.token_user OR excluded.token_user
      WHERE excluded.token_user OR NOT users.token_user
    RETURNING (xmax = 0) AS inserted, (SELECT token_user FROM old) AS was_token`,
  getGuestHold: 'SELECT generation, last_used FROM guest_holds WHERE base = $1',
  // Compare and set in one statement: the row lock makes two nodes' swaps of one name queue, and the second finds it changed.
  insertGuestHold: 'INSERT INTO guest_holds (base, generation, last_used) VALUES ($1, $2, $3) ON CONFLICT (base) DO NOTHING',
  swapGuestHold: 'UPDATE guest_holds SET generation = $1, last_used = $2 WHERE base = $3 AND generation = $4 AND last_used = $5',
  touchGuestHold: 'UPDATE guest_holds SET last_used = GREATEST(last_used, $1) WHERE base = $2 AND generation = $3',
  getDelivered: 'SELECT channel, seq FROM delivered WHERE user_id = $1',
  // Only ever raised, in SQL too, so that a late write from any node cannot lower a cursor; rows in a fixed order as in `reserve`.
  raiseDelivered: `INSERT INTO delivered (user_id, channel, seq)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS d(user_id, channel, seq) ORDER BY user_id COLLATE "C", channel COLLATE "C"
    ON CONFLICT (user_id, channel) DO UPDATE SET seq = GREATEST(delivered.seq, excluded.seq)`,
} as const;

export interface MessageRow {
  channel: string;
  /** int8 columns arrive as strings from pg. */
  seq: string;
  id: string;
  sender: string;
  sender_name: string;
  sender_avatar: string;
  /** jsonb arrives parsed. */
  recipient: Target;
  type: string;
  body: string;
  ts: string;
  cid: string;
}

export interface RoomRow {
  name: string;
  title: string;
  members_only: boolean;
  created_at: string;
}

export function toMessage(row: MessageRow): StoredMessage {
  return {
    id: row.id,
    channel: row.channel,
    offset: Number(row.seq),
    from: { id: row.sender, name: row.sender_name, avatar: row.sender_avatar },
    to: row.recipient,
    type: row.type as MessageType,
    body: row.body,
    ts: Number(row.ts),
    cid: row.cid,
  };
}

export function toRoom(row: RoomRow): RoomInfo {
  return { name: row.name, title: row.title, membersOnly: row.members_only, createdAt: Number(row.created_at) };
}

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    // Not a URL (a libpq key=value string, say): say nothing of its contents.
    return '(the configured PostgreSQL connection string)';
  }
}
