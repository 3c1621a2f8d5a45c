/**
 * What the admin API (src/http/admin.ts) may do to a running chat: rooms
 * (create, delete, grant and revoke membership), the users online (list,
 * kick) and notices to a room.
 *
 * Each operation writes the store first and then brings the in-memory
 * directory in line in one synchronous step, as the client handlers do, and
 * tells the clients concerned with frames docs/protocol.md already has (`left`,
 * `presence`, `message`, `bye`), so that today's browser client follows
 * without knowing an admin was involved. Failures are ProtocolErrors: their
 * codes (src/errors.ts) become the HTTP status and `error` of the answer.
 */
import { randomBytes } from 'node:crypto';
import type { TransportName } from './transport.js';
import { SYSTEM_ID } from '../auth/guest.js';
import { ROOM_NAME, roomChannel } from '../channels.js';
import { ProtocolError } from '../errors.js';
import type { HistoryStore } from '../store/store.js';
import type { RoomInfo, Sender, StoredMessage, UserInfo } from '../types.js';
import type { Cluster } from './cluster.js';
import { leftFrame, presenceFrame } from './frames.js';
import type { Messages } from './messages.js';
import type { Directory, RoomState } from './online.js';
import { decode, type Limits } from './validate.js';

/** What the admin operations use of the running chat. */
export interface AdminParts {
  readonly dir: Directory;
  readonly store: Pick<HistoryStore, 'ensureRoom' | 'deleteRoom' | 'addMember' | 'removeMember'>;
  readonly cluster: Pick<Cluster, 'publish' | 'memberChanged' | 'remote'>;
  readonly messages: Pick<Messages, 'storeAppend' | 'deliver'>;
  readonly limits: Limits;
}

/** Who notices come from. The id is reserved: no login can take it (src/auth/guest.ts). */
export const SYSTEM_SENDER: Sender = { id: SYSTEM_ID, name: 'System', avatar: 'system' };

/** As `to.user` in docs/protocol.md (src/core/validate.ts): no `:`, no white space, no NUL. */
const USER_ID = /^[^\s:\u0000]{1,512}$/u;
const CONTROL = /[\p{Cc}\u2028\u2029]/u;

export interface AdminRoom extends RoomInfo {
  /** Members online now. */
  online: number;
}

export interface AdminUser extends UserInfo {
  connections: Array<{ transport: TransportName; ip: string }>;
  rooms: string[];
}

export interface NewRoom {
  name: string;
  title?: string;
  membersOnly?: boolean;
}

function roomName(name: string): string {
  if (!ROOM_NAME.test(name)) throw new ProtocolError('bad_request', 'a room name is 1-32 of a-z, 0-9, _ and -');
  return name;
}

function userId(id: string): string {
  if (!USER_ID.test(id) || !id.isWellFormed()) throw new ProtocolError('bad_request', 'a user id has 1-512 characters, no ":" and no white space');
  return id;
}

/** Titles follow the rules of user names (trimmed, no control characters), with room for a few more words. */
function roomTitle(raw: string): string {
  const title = raw.trim();
  const n = [...title].length;
  if (n < 1 || n > 64 || CONTROL.test(title) || !title.isWellFormed()) {
    throw new ProtocolError('bad_request', 'a title has 1-64 characters and no control characters');
  }
  return title;
}

function sameRoom(a: RoomInfo, b: RoomInfo): boolean {
  return a.name === b.name && a.title === b.title && a.membersOnly === b.membersOnly && a.createdAt === b.createdAt;
}

export class Admin {
  constructor(private readonly core: AdminParts) {}

  private room(name: string): RoomState {
    const room = this.core.dir.rooms.get(roomName(name));
    if (!room) throw new ProtocolError('not_found', `no room "${name}"`);
    return room;
  }

  rooms(): AdminRoom[] {
    const out: AdminRoom[] = [];
    for (const r of this.core.dir.rooms.values()) out.push({ ...r.info, online: r.online.size });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async createRoom(input: NewRoom): Promise<AdminRoom> {
    const name = roomName(input.name);
    const title = input.title === undefined ? name : roomTitle(input.title);
    if (this.core.dir.rooms.has(name)) throw new ProtocolError('conflict', `room "${name}" exists`);
    const info: RoomInfo = { name, title, membersOnly: input.membersOnly === true, createdAt: Date.now() };
    const stored = await this.core.store.ensureRoom(info);
    // A `join` may have created the room while we waited: the store then answers with that one, not ours.
    if (!sameRoom(stored, info)) throw new ProtocolError('conflict', `room "${name}" exists`);
    this.core.cluster.publish({ k: 'room', info: stored });
    return { ...this.core.dir.addRoom(stored).info, online: 0 };
  }

  /** Deletes a room and its memberships; its members online get `left` with `reason: "deleted"`. Its messages stay stored. */
  async deleteRoom(name: string): Promise<{ room: string; notified: number }> {
    if (roomName(name) === 'lobby') throw new ProtocolError('forbidden', 'the lobby cannot be deleted');
    const room = this.room(name);
    if (!(await this.core.store.deleteRoom(name))) throw new ProtocolError('not_found', `no room "${name}"`);
    const members = this.core.dir.rooms.get(name) === room ? this.core.dir.removeRoom(name) : [];
    this.core.cluster.publish({ k: 'room-deleted', room: name });
    const frame = leftFrame(name, 'deleted');
    for (const user of members) this.core.dir.toUser(user, frame);
    return { room: name, notified: members.length };
  }

  /**
   * Makes a user a member (the way into a members-only room). A user who is
   * online is in the room at once: every member online, the user's own
   * connections included, gets `presence join`, as when a user joins from
   * another device. An id that never logged in is accepted, so that a room
   * can be prepared for people before they come.
   */
  async addMember(name: string, id: string): Promise<{ room: string; user: string; online: boolean }> {
    const room = this.room(name);
    await this.core.store.addMember(name, userId(id));
    this.core.cluster.memberChanged('add', name, id);
    const user = this.core.dir.users.get(id);
    if (!user || this.core.dir.rooms.get(name) !== room) return { room: name, user: id, online: false };
    if (this.core.dir.enter(user, room)) this.core.dir.toRoom(room, presenceFrame('join', user.info, name));
    return { room: name, user: id, online: true };
  }

  /** Ends a membership; a user online gets `left` (`reason: "removed"`), the other members `presence leave`. */
  async removeMember(name: string, id: string): Promise<{ room: string; user: string }> {
    const room = this.room(name);
    await this.core.store.removeMember(name, userId(id));
    this.core.cluster.memberChanged('remove', name, id);
    const user = this.core.dir.users.get(id);
    if (user && this.core.dir.exit(user, name)) {
      this.core.dir.toUser(user, leftFrame(name, 'removed'));
      this.core.dir.toRoom(room, presenceFrame('leave', user.info, name));
    }
    return { room: name, user: id };
  }

  users(): AdminUser[] {
    const out: AdminUser[] = [];
    for (const u of this.core.dir.users.values()) {
      const connections = [...u.conns].map((c) => ({ transport: c.transport.name, ip: c.ip }));
      out.push({ ...u.info, connections, rooms: [...u.rooms].sort() });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Ends every connection of a user with `bye` `kicked` (reconnect: false);
   * the user goes offline as after a logout. Nothing is banned: the client
   * is told not to reconnect, but a new login with the same name (or its
   * token) is accepted.
   */
  kick(id: string): { user: string; connections: number } {
    const user = this.core.dir.users.get(userId(id));
    // Online on another node: that node ends the connections (their count is not known here).
    if (this.core.cluster.remote.has(id)) this.core.cluster.publish({ k: 'kick', user: id });
    if (!user && this.core.cluster.remote.has(id)) return { user: id, connections: 0 };
    if (!user) throw new ProtocolError('not_found', `"${id}" is not online`);
    const conns = [...user.conns];
    for (const c of conns) c.bye('kicked');
    return { user: id, connections: conns.length };
  }

  /**
   * A notice is a stored text message in the room's channel from
   * SYSTEM_SENDER: it takes the next offset, reaches the members online now
   * as any `message` does, and the others find it in the history.
   */
  notice(name: string, text: string): Promise<StoredMessage> {
    this.room(name);
    const cid = `notice-${randomBytes(12).toString('base64url')}`;
    // The same checks as a member's text (not blank, length, well-formed), with the same codes.
    const cmd = decode({ cmd: 'send', to: { room: name }, type: 'text', body: text, cid }, this.core.limits);
    if (cmd.cmd !== 'send') throw new ProtocolError('internal', 'a notice decoded as another command');
    const msg = { channel: roomChannel(name), from: SYSTEM_SENDER, to: cmd.to, type: cmd.type, body: cmd.body, cid };
    // Delivered from the append promise's own `then`, as Messages.append does, so messages of the room keep offset order.
    return this.core.messages.storeAppend(msg).then(({ message }) => {
      this.core.messages.deliver(message);
      return message;
    });
  }
}
