/** The shapes of docs/protocol.md that the core, the stores and the transports share. */

export type UserStatus = 'online' | 'away' | 'busy';

/** A user object on the wire: `{ id, name, avatar, status }`. */
export interface UserInfo {
  id: string;
  name: string;
  avatar: string;
  status: UserStatus;
}

/** Who sent a message: the user object without its status. */
export interface Sender {
  id: string;
  name: string;
  avatar: string;
}

/**
 * `who` with a status, as a literal: V8 (Node 20) gives each result of
 * `{ ...who, status }` a hidden class of its own, about 250 bytes more per
 * online user (issue 8, heap snapshot of 10,000 idle connections).
 */
export function withStatus(who: Sender, status: UserStatus): UserInfo {
  return { id: who.id, name: who.name, avatar: who.avatar, status };
}

export type Target = { room: string } | { user: string };

export type MessageType = 'text' | 'emoji' | 'image';

/** A message as the store hands it back and as `message` carries it. */
export interface StoredMessage {
  id: string;
  channel: string;
  offset: number;
  from: Sender;
  to: Target;
  type: MessageType;
  body: string;
  ts: number;
  cid: string;
}

/** What the core asks a store to append; the store gives it an id, offset and time. */
export interface NewMessage {
  channel: string;
  from: Sender;
  to: Target;
  type: MessageType;
  body: string;
  cid: string;
}

export interface RoomInfo {
  name: string;
  title: string;
  /** Members-only rooms refuse `join`, `send` and `history` to non-members. */
  membersOnly: boolean;
  createdAt: number;
}

/** Any client or server message: a JSON object with a string `cmd`. */
export interface Frame {
  cmd: string;
  [field: string]: unknown;
}
