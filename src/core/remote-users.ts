/**
 * The users online on other nodes, as this node knows them from the bus
 * and the presence registry: enough for the online list, room member
 * lists and counts, and `name_taken`. A user may be online on several
 * nodes at once (tabs and devices that share a token).
 */
import type { PresenceRecord } from '../bus/bus.js';
import type { UserInfo } from '../types.js';

export interface RemoteUser {
  info: UserInfo;
  rooms: Set<string>;
  nodes: Set<string>;
}

export class RemoteUsers {
  readonly users = new Map<string, RemoteUser>();
  private readonly byNode = new Map<string, Set<string>>();

  has(id: string): boolean {
    return this.users.has(id);
  }

  get(id: string): RemoteUser | undefined {
    return this.users.get(id);
  }

  /** Records a user on a node; true when the user was not online on any other node before. */
  add(node: string, record: PresenceRecord): boolean {
    let u = this.users.get(record.user.id);
    const fresh = u === undefined;
    if (!u) {
      u = { info: record.user, rooms: new Set(record.rooms), nodes: new Set() };
      this.users.set(record.user.id, u);
    } else {
      u.info = record.user;
      for (const r of record.rooms) u.rooms.add(r);
    }
    u.nodes.add(node);
    let ids = this.byNode.get(node);
    if (!ids) this.byNode.set(node, (ids = new Set()));
    ids.add(record.user.id);
    return fresh;
  }

  /** Takes a user off a node; the user's info when that was the last node holding them. */
  remove(node: string, id: string): UserInfo | undefined {
    this.byNode.get(node)?.delete(id);
    const u = this.users.get(id);
    if (!u || !u.nodes.delete(node) || u.nodes.size > 0) return undefined;
    this.users.delete(id);
    return u.info;
  }

  /** Forgets a whole node; the users who went offline with it. */
  removeNode(node: string): UserInfo[] {
    const gone: UserInfo[] = [];
    for (const id of this.byNode.get(node) ?? []) {
      const info = this.remove(node, id);
      if (info) gone.push(info);
    }
    this.byNode.delete(node);
    return gone;
  }

  nodes(): string[] {
    return [...this.byNode.keys()];
  }

  /** Replaces the whole view (after a reconnect); answers who appeared and who disappeared. */
  replace(snapshot: Map<string, PresenceRecord[]>): { appeared: UserInfo[]; disappeared: UserInfo[] } {
    const before = new Map([...this.users].map(([id, u]) => [id, u.info]));
    this.users.clear();
    this.byNode.clear();
    for (const [node, records] of snapshot) for (const r of records) this.add(node, r);
    const appeared = [...this.users.values()].filter((u) => !before.has(u.info.id)).map((u) => u.info);
    const disappeared = [...before].filter(([id]) => !this.users.has(id)).map(([, info]) => info);
    return { appeared, disappeared };
  }

  /** Adds what a snapshot holds, removing nothing; answers who was not online before. */
  merge(snapshot: Map<string, PresenceRecord[]>): UserInfo[] {
    const appeared: UserInfo[] = [];
    for (const [node, records] of snapshot) {
      for (const r of records) if (this.add(node, r)) appeared.push(r.user);
    }
    return appeared;
  }

  inRoom(room: string): UserInfo[] {
    const out: UserInfo[] = [];
    for (const u of this.users.values()) if (u.rooms.has(room)) out.push(u.info);
    return out;
  }
}
