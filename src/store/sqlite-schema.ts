import type Database from 'better-sqlite3';
import type { MessageType, RoomInfo, StoredMessage, Target } from '../types.js';

/**
 * The tables of SqliteStore, how a file is created or migrated on open, the
 * statements it prepares once, and how rows map to the shared types.
 *
 * To change a table: change SCHEMA (the shape a new file gets) and append a
 * step to MIGRATIONS that brings an existing file to that shape (never edit
 * a step that has shipped); SCHEMA_VERSION, kept in PRAGMA user_version,
 * follows from its length.
 */

/** Step i takes a file from version i + 1 to version i + 2 (version 1 is the first shape; 0 is a new file). */
const MIGRATIONS: readonly string[] = [
  // Ids that logged in with a host application's token: guests may not take them (src/core/login.ts).
  'ALTER TABLE users ADD COLUMN token_user INTEGER NOT NULL DEFAULT 0',
  // Guest names held for their identity (src/core/guest-holds.ts). Guests who logged in before holds
  // existed are entered as long unused, so the next guest of such a name is a new identity, not them.
  `CREATE TABLE guest_holds (base TEXT PRIMARY KEY, generation INTEGER NOT NULL, last_used INTEGER NOT NULL);
   INSERT INTO guest_holds (base, generation, last_used) SELECT id, 1, 0 FROM users WHERE token_user = 0`,
];

export const SCHEMA_VERSION = MIGRATIONS.length + 1;

// `seq` rather than `offset`: OFFSET is an SQL keyword.
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  channel TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  sender TEXT NOT NULL,
  sender_name TEXT NOT NULL,
  sender_avatar TEXT NOT NULL,
  recipient TEXT NOT NULL,
  type TEXT NOT NULL,
  body TEXT NOT NULL,
  ts INTEGER NOT NULL,
  cid TEXT NOT NULL,
  PRIMARY KEY (channel, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_sender_cid ON messages (sender, cid);
CREATE TABLE IF NOT EXISTS rooms (
  name TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  members_only INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
  room TEXT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (room, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_user ON memberships (user_id, room);
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  avatar TEXT NOT NULL,
  token_user INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS guest_holds (
  base TEXT PRIMARY KEY,
  generation INTEGER NOT NULL,
  last_used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dm_channels (
  user_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  PRIMARY KEY (user_id, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delivered (
  user_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (user_id, channel)
) WITHOUT ROWID;
`;

/**
 * Creates the tables of a new file, or brings an older one up to
 * SCHEMA_VERSION, in one transaction: a step that fails leaves the file as
 * it was. A file of a newer webim is refused, not touched.
 */
export function applySchema(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`${file} has schema version ${version}, newer than this webim (${SCHEMA_VERSION})`);
  }
  db.transaction(() => {
    // A new file (version 0) gets the current shape from SCHEMA alone.
    for (let v = version; v > 0 && v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v - 1] as string);
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

export interface UserRow {
  id: string;
  name: string;
  avatar: string;
  /** 1 once the id has logged in with a host application's token. */
  token_user: number;
}

export interface MessageRow {
  channel: string;
  seq: number;
  id: string;
  sender: string;
  sender_name: string;
  sender_avatar: string;
  /** The `to` target as JSON. */
  recipient: string;
  type: string;
  body: string;
  ts: number;
  cid: string;
}

export interface RoomRow {
  name: string;
  title: string;
  members_only: number;
  created_at: number;
}

type Stmt<P extends unknown[], R = unknown> = Database.Statement<P, R>;

export interface Statements {
  insertMessage: Stmt<[string, number, string, string, string, string, string, string, string, number, string]>;
  bySenderCid: Stmt<[string, string], MessageRow>;
  messageAt: Stmt<[string, number], MessageRow>;
  maxOffset: Stmt<[string], { head: number | null }>;
  before: Stmt<[string, number, number], MessageRow>;
  after: Stmt<[string, number, number], MessageRow>;
  insertDm: Stmt<[string, string]>;
  dmOf: Stmt<[string], string>;
  listRooms: Stmt<[], RoomRow>;
  getRoom: Stmt<[string], RoomRow>;
  insertRoom: Stmt<[string, string, number, number]>;
  deleteRoom: Stmt<[string]>;
  deleteMembersOfRoom: Stmt<[string]>;
  addMember: Stmt<[string, string]>;
  removeMember: Stmt<[string, string]>;
  roomsOf: Stmt<[string], string>;
  isMember: Stmt<[string, string], number>;
  getUser: Stmt<[string], UserRow>;
  upsertUser: Stmt<[string, string, string, number]>;
  getGuestHold: Stmt<[string], { generation: number; last_used: number }>;
  insertGuestHold: Stmt<[string, number, number]>;
  swapGuestHold: Stmt<[number, number, string, number, number]>;
  touchGuestHold: Stmt<[number, string, number]>;
  getDelivered: Stmt<[string], { channel: string; seq: number }>;
  raiseDelivered: Stmt<[string, string, number]>;
}

const MESSAGE_COLUMNS = 'channel, seq, id, sender, sender_name, sender_avatar, recipient, type, body, ts, cid';

export function prepareStatements(db: Database.Database): Statements {
  return {
    insertMessage: db.prepare(`INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    bySenderCid: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE sender = ? AND cid = ?`),
    messageAt: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE channel = ? AND seq = ?`),
    maxOffset: db.prepare('SELECT max(seq) AS head FROM messages WHERE channel = ?'),
    // Newest first so that LIMIT keeps the newest; callers reverse the page.
    before: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE channel = ? AND seq < ? ORDER BY seq DESC LIMIT ?`),
    after: db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE channel = ? AND seq > ? ORDER BY seq DESC LIMIT ?`),
    insertDm: db.prepare('INSERT OR IGNORE INTO dm_channels (user_id, channel) VALUES (?, ?)'),
    dmOf: db.prepare<[string], string>('SELECT channel FROM dm_channels WHERE user_id = ? ORDER BY channel').pluck(),
    listRooms: db.prepare('SELECT name, title, members_only, created_at FROM rooms ORDER BY name'),
    getRoom: db.prepare('SELECT name, title, members_only, created_at FROM rooms WHERE name = ?'),
    insertRoom: db.prepare('INSERT OR IGNORE INTO rooms (name, title, members_only, created_at) VALUES (?, ?, ?, ?)'),
    deleteRoom: db.prepare('DELETE FROM rooms WHERE name = ?'),
    deleteMembersOfRoom: db.prepare('DELETE FROM memberships WHERE room = ?'),
    addMember: db.prepare('INSERT OR IGNORE INTO memberships (room, user_id) VALUES (?, ?)'),
    removeMember: db.prepare('DELETE FROM memberships WHERE room = ? AND user_id = ?'),
    roomsOf: db.prepare<[string], string>('SELECT room FROM memberships WHERE user_id = ? ORDER BY room').pluck(),
    isMember: db.prepare<[string, string], number>('SELECT 1 FROM memberships WHERE room = ? AND user_id = ?').pluck(),
    getUser: db.prepare('SELECT id, name, avatar, token_user FROM users WHERE id = ?'),
    // Once a token user, always one: a later save never clears the mark.
    upsertUser: db.prepare(`INSERT INTO users (id, name, avatar, token_user) VALUES (?, ?, ?, ?) ON CONFLICT (id)
      DO UPDATE SET name = excluded.name, avatar = excluded.avatar, token_user = max(token_user, excluded.token_user)`),
    getGuestHold: db.prepare('SELECT generation, last_used FROM guest_holds WHERE base = ?'),
    insertGuestHold: db.prepare('INSERT OR IGNORE INTO guest_holds (base, generation, last_used) VALUES (?, ?, ?)'),
    swapGuestHold: db.prepare('UPDATE guest_holds SET generation = ?, last_used = ? WHERE base = ? AND generation = ? AND last_used = ?'),
    touchGuestHold: db.prepare('UPDATE guest_holds SET last_used = max(last_used, ?) WHERE base = ? AND generation = ?'),
    getDelivered: db.prepare('SELECT channel, seq FROM delivered WHERE user_id = ?'),
    // Only ever raised, in SQL too, so that a late write cannot lower a cursor.
    raiseDelivered: db.prepare(
      'INSERT INTO delivered (user_id, channel, seq) VALUES (?, ?, ?) ON CONFLICT (user_id, channel) DO UPDATE SET seq = max(seq, excluded.seq)',
    ),
  };
}

export function toMessage(row: MessageRow): StoredMessage {
  return {
    id: row.id,
    channel: row.channel,
    offset: row.seq,
    from: { id: row.sender, name: row.sender_name, avatar: row.sender_avatar },
    to: JSON.parse(row.recipient) as Target,
    type: row.type as MessageType,
    body: row.body,
    ts: row.ts,
    cid: row.cid,
  };
}

export function toRoom(row: RoomRow): RoomInfo {
  return { name: row.name, title: row.title, membersOnly: row.members_only !== 0, createdAt: row.created_at };
}
