/**
 * Who is online, on which connections, and in which rooms: the in-memory
 * view the core fans messages out from. Memberships are durable in the
 * store; here only the online members of each room are kept, so memory
 * grows with the users online, not with everyone who ever joined.
 */
import type { RoomInfo, Sender, UserInfo } from '../types.js';
import type { Connection } from './connection.js';
import { SmallSet } from './small-set.js';

export class OnlineUser {
  readonly conns = new SmallSet<Connection>();
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

  /** Every connection of every logged-in user. */
  toAll(frame: string, except?: Connection): void {
    for (const u of this.users.values()) {
      for (const c of u.conns) if (c !== except) c.send(frame);
    }
  }

  /** Every connection of every online member of a room. */
  toRoom(room: RoomState, frame: string, except?: Connection | OnlineUser, channel?: string, offset?: number): void {
    for (const u of room.online) {
      if (u === except) continue;
      for (const c of u.conns) if (c !== except) c.send(frame, channel, offset);
    }
  }

  toUser(user: OnlineUser | undefined, frame: string, except?: Connection, channel?: string, offset?: number): void {
    if (!user) return;
    for (const c of user.conns) if (c !== except) c.send(frame, channel, offset);
  }
}
