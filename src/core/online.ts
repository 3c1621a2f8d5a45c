/**
 * Who is online, on which connections, and in which rooms: the in-memory
 * view the core fans messages out from. Memberships are durable in the
 * store; here only the online members of each room are kept, so memory
 * grows with the users online, not with everyone who ever joined.
 */
import { OutFrame, type TransportName } from './transport.js';
import type { ByeCode } from '../errors.js';
import type { RoomInfo, Sender, UserInfo } from '../types.js';
import { SmallSet } from './small-set.js';

/**
 * What the directory and the code that walks it use of a connection
 * (src/core/connection.ts implements it): where it comes from, a frame to
 * it, and ending it. Declared here so that this module and the connection
 * module do not import each other.
 */
export interface Peer {
  readonly transport: { readonly name: TransportName };
  readonly ip: string;
  send(frame: string | OutFrame, channel?: string, offset?: number): void;
  bye(code: ByeCode, reason?: string): void;
}

export class OnlineUser {
  readonly conns = new SmallSet<Peer>();
  /** Rooms this user is a member of (names). */
  readonly rooms = new SmallSet<string>();
  /**
   * Logged in as a guest (a name, or a token webim issued to a guest). A
   * session is all guest or all token: a guest never joins a token user's
   * connections, and a token login ends a guest session of its id.
   */
  constructor(public info: UserInfo, readonly guest: boolean) {}

  get sender(): Sender {
    return { id: this.info.id, name: this.info.name, avatar: this.info.avatar };
  }
}

export interface RoomState {
  info: RoomInfo;
  /** Online users who are members. */
  online: Set<OnlineUser>;
}

export class Directory {
  readonly users = new Map<string, OnlineUser>();
  readonly rooms = new Map<string, RoomState>();

  addRoom(info: RoomInfo): RoomState {
    let room = this.rooms.get(info.name);
    if (!room) {
      room = { info, online: new Set() };
      this.rooms.set(info.name, room);
    } else {
      room.info = info;
    }
    return room;
  }

  /**
   * Makes an online user a member of a room on this node: both sides of the
   * membership (`user.rooms` and `room.online`) change together, here and
   * nowhere else. False when the user was in the room already.
   */
  enter(user: OnlineUser, room: RoomState): boolean {
    if (user.rooms.has(room.info.name)) return false;
    user.rooms.add(room.info.name);
    room.online.add(user);
    return true;
  }

  /** Takes an online user out of a room (known here or not); false when the user was not in it. */
  exit(user: OnlineUser, name: string): boolean {
    if (!user.rooms.delete(name)) return false;
    this.rooms.get(name)?.online.delete(user);
    return true;
  }

  /** Forgets a room; resolves to the users who were in it, each taken out of it. */
  removeRoom(name: string): OnlineUser[] {
    const room = this.rooms.get(name);
    if (!room) return [];
    this.rooms.delete(name);
    const members = [...room.online];
    for (const user of members) user.rooms.delete(name);
    room.online.clear();
    return members;
  }

  /** A user's last connection here ended: out of the online users and of every room. */
  removeUser(user: OnlineUser): void {
    this.users.delete(user.info.id);
    for (const name of user.rooms) this.rooms.get(name)?.online.delete(user);
  }

  /**
   * Ends a guest session of this id with `bye` `kicked`, if there is one:
   * a host application's user takes the id back from guests who entered it
   * before its first token login. True when a session ended.
   */
  endGuestSession(id: string): boolean {
    const user = this.users.get(id);
    if (!user?.guest) return false;
    for (const c of [...user.conns]) c.bye('kicked', 'a registered user has this name');
    return true;
  }

  onlineInfos(): UserInfo[] {
    const out: UserInfo[] = [];
    for (const u of this.users.values()) out.push(u.info);
    return out;
  }

  roomList(): Array<{ name: string; title: string; members: number }> {
    const out: Array<{ name: string; title: string; members: number }> = [];
    for (const r of this.rooms.values()) out.push({ name: r.info.name, title: r.info.title, members: r.online.size });
    return out;
  }

  /** Every connection of every logged-in user; the frame is built once for all of them. */
  toAll(text: string | OutFrame, except?: Peer): void {
    const frame = shared(text);
    for (const u of this.users.values()) {
      for (const c of u.conns) if (c !== except) c.send(frame);
    }
  }

  /** Every connection of every online member of a room, one frame for all. */
  toRoom(room: RoomState, text: string | OutFrame, except?: Peer | OnlineUser, channel?: string, offset?: number): void {
    const frame = shared(text);
    for (const u of room.online) {
      if (u === except) continue;
      for (const c of u.conns) if (c !== except) c.send(frame, channel, offset);
    }
  }

  /** Every connection of a user, one frame for all. */
  toUser(user: OnlineUser | undefined, text: string | OutFrame, except?: Peer, channel?: string, offset?: number): void {
    if (!user) return;
    const frame = shared(text);
    for (const c of user.conns) if (c !== except) c.send(frame, channel, offset);
  }
}

function shared(frame: string | OutFrame): OutFrame {
  return typeof frame === 'string' ? new OutFrame(frame) : frame;
}
