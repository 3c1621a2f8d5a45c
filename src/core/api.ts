/**
 * What the host application's backend may do to the chat through the
 * server API (src/http/api-routes.ts, docs/api.md): publish a message to a
 * room or a user, from the system or as one of its users, to one channel
 * or several; read a channel's history; ask who is online on every node;
 * end a user's sessions. Rooms, members, notices and kicks are the admin
 * operations of src/core/admin.ts.
 *
 * A published message takes the way a client's `send` takes (Messages:
 * store, then the cluster, then each node's connections), so it is stored,
 * delivered, resumed and paged like one. Failures are ProtocolErrors whose
 * codes (src/errors.ts) become the HTTP answer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SYSTEM_ID } from '../auth/guest.js';
import { dmChannel, parseChannel, roomChannel } from '../channels.js';
import { type ByeCode, ProtocolError } from '../errors.js';
import type { HistoryPage, HistoryStore } from '../store/store.js';
import type { MessageType, NewMessage, RoomInfo, Sender, StoredMessage, Target, UserInfo } from '../types.js';
import { SYSTEM_SENDER } from './admin.js';
import type { Cluster } from './cluster.js';
import type { Messages } from './messages.js';
import type { Directory } from './online.js';
import { decode, type Limits } from './validate.js';

/** What the server API uses of the running chat. */
export interface ApiParts {
  readonly dir: Directory;
  readonly store: Pick<HistoryStore, 'getRoom' | 'getUser' | 'isMember' | 'history'>;
  readonly cluster: Pick<Cluster, 'publish' | 'remote' | 'withRemote' | 'roomList'>;
  readonly messages: Pick<Messages, 'storeAppend' | 'deliver'>;
  readonly limits: Limits;
  /** Which image URLs this server issued; undefined: any well-formed upload path passes. */
  readonly uploads: { issued(url: string): boolean } | undefined;
}

/** A message the backend publishes; `to` is given per call (publish) or per channel (broadcast). */
export interface Publication {
  /** The user id to publish as; undefined: the system sender. */
  from?: string;
  type: MessageType;
  body: string;
  /** A retried call with the same key is stored once per channel. */
  idempotencyKey?: string;
}

export interface Published {
  message: StoredMessage;
  /** The key's message was stored by an earlier call: this is it again, not delivered twice. */
  duplicate: boolean;
}

/** As `to.user` in docs/protocol.md (src/core/validate.ts): no `:`, no white space, no NUL. */
const USER_ID = /^[^\s:\u0000]{1,512}$/u;
const CONTROL = /[\p{Cc}\u2028\u2029]/u;

function userId(id: string): string {
  if (!USER_ID.test(id) || !id.isWellFormed()) throw new ProtocolError('bad_request', 'a user id has 1-512 characters, no ":" and no white space');
  return id;
}

/**
 * The cid a published message is stored with. With an idempotency key it
 * is a digest of the channel and the key, so that the store's `(sender,
 * cid)` rule stores a retried call once in each channel while one key
 * covers every channel of a broadcast; without one it is random.
 */
export function publishCid(channel: string, key: string | undefined): string {
  if (key === undefined) return `api-${randomBytes(12).toString('base64url')}`;
  return `api-${createHash('sha256').update(channel).update('\u0000').update(key).digest('base64url')}`;
}

function byId(a: UserInfo, b: UserInfo): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export class ServerApi {
  constructor(private readonly core: ApiParts) {}

  /** Stores a message in one channel and delivers it on every node, as a client's `send` would be. */
  async publish(to: Target, p: Publication): Promise<Published> {
    const sender = await this.sender(p.from);
    return this.append(await this.prepare(sender, to, p));
  }

  /**
   * One message to several channels. Every target is checked before any
   * message is stored, so an unknown room or user stores nothing; a store
   * that fails midway fails the call, and the same call again with the
   * same key stores only what is missing.
   */
  async broadcast(targets: Target[], p: Publication): Promise<Published[]> {
    const sender = await this.sender(p.from);
    const drafts = await Promise.all(targets.map((to) => this.prepare(sender, to, p)));
    return Promise.all(drafts.map((draft) => this.append(draft)));
  }

  /** A page of a channel's history, as the protocol's `history` pages it; any channel, since the backend is trusted. */
  async history(channel: string, before: number | undefined, limit: number): Promise<HistoryPage> {
    const parsed = parseChannel(channel);
    if (!parsed) throw new ProtocolError('bad_request', 'a channel is room:<name> or dm:<a>:<b> with a <= b');
    if (parsed.kind === 'room') await this.room(parsed.room);
    else for (const id of new Set(parsed.users)) if (id !== SYSTEM_ID) await this.sender(id);
    return this.core.store.history(channel, before, limit);
  }

  /** Everyone online on every node, or the online members of a room, in id order. */
  async online(room?: string): Promise<UserInfo[]> {
    if (room === undefined) return this.core.cluster.withRemote(this.core.dir.onlineInfos()).sort(byId);
    await this.room(room);
    const here = [...(this.core.dir.rooms.get(room)?.online ?? [])].map((u) => u.info);
    return this.core.cluster.withRemote(here, room).sort(byId);
  }

  /** How many users are online on every node, and in each room. */
  counts(): { users: number; rooms: Array<{ name: string; users: number }> } {
    const users = this.core.cluster.withRemote(this.core.dir.onlineInfos()).length;
    const rooms = this.core.cluster.roomList().map((r) => ({ name: r.name, users: r.members }));
    return { users, rooms: rooms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
  }

  /**
   * Ends every session of a user on every node with `bye` `disconnected`
   * (reconnect: false) or `force_reconnect` (reconnect: true), with the
   * caller's reason. Nothing is banned: the next login is taken as usual.
   */
  disconnect(id: string, reconnect: boolean, reason?: string): { user: string; code: ByeCode; reconnect: boolean } {
    userId(id);
    if (reason !== undefined && (reason.trim() === '' || CONTROL.test(reason) || !reason.isWellFormed())) {
      throw new ProtocolError('bad_request', 'a reason is text for people: not blank, no control characters');
    }
    const code: ByeCode = reconnect ? 'force_reconnect' : 'disconnected';
    const user = this.core.dir.users.get(id);
    const remote = this.core.cluster.remote.has(id);
    if (!user && !remote) throw new ProtocolError('not_found', `"${id}" is not online`);
    if (remote) this.core.cluster.publish({ k: 'kick', user: id, bye: code, reason });
    for (const c of [...(user?.conns ?? [])]) c.bye(code, reason);
    return { user: id, code, reconnect };
  }

  /** The profile to publish as: the system, or a user who has logged in at least once (404 otherwise). */
  private async sender(id: string | undefined): Promise<Sender> {
    if (id === undefined) return SYSTEM_SENDER;
    userId(id);
    const online = this.core.dir.users.get(id)?.info ?? this.core.cluster.remote.get(id)?.info;
    if (online) return { id, name: online.name, avatar: online.avatar };
    const stored = id === SYSTEM_ID ? undefined : await this.core.store.getUser(id);
    if (!stored) throw new ProtocolError('not_found', `no user "${id}"`);
    return stored;
  }

  private async room(name: string): Promise<RoomInfo> {
    const info = this.core.dir.rooms.get(name)?.info ?? (await this.core.store.getRoom(name));
    if (!info) throw new ProtocolError('not_found', `no room "${name}"`);
    return info;
  }

  /** Checks one message as a member's `send` is checked, with the same codes, and gives it its channel and cid. */
  private async prepare(sender: Sender, to: Target, p: Publication): Promise<NewMessage> {
    let channel: string;
    if ('room' in to) {
      await this.room(to.room);
      channel = roomChannel(to.room);
      // As a user, only where that user may write; the system writes anywhere, as admin notices do.
      if (sender.id !== SYSTEM_ID && !(await this.core.store.isMember(to.room, sender.id))) {
        throw new ProtocolError('forbidden', `"${sender.id}" is not a member of "${to.room}"`);
      }
    } else {
      // System takes no private messages (docs/choices.md, Administration).
      if (to.user === SYSTEM_ID) throw new ProtocolError('not_found', 'System takes no private messages');
      await this.sender(to.user);
      channel = dmChannel(sender.id, to.user);
    }
    const cid = publishCid(channel, p.idempotencyKey);
    const cmd = decode({ cmd: 'send', to, type: p.type, body: p.body, cid }, this.core.limits);
    if (cmd.cmd !== 'send') throw new ProtocolError('internal', 'a publication decoded as another command');
    if (cmd.type === 'image' && this.core.uploads && !this.core.uploads.issued(cmd.body)) {
      throw new ProtocolError('bad_request', 'an image must be a URL this server issued on upload');
    }
    return { channel, from: sender, to: cmd.to, type: cmd.type, body: cmd.body, cid };
  }

  private append(msg: NewMessage): Promise<Published> {
    // Delivered from the append promise's own `then`, as Messages.append does, so a channel keeps offset order.
    return this.core.messages.storeAppend(msg).then(({ message, duplicate }) => {
      // The sender's cid names a message in another channel: a client chose this cid. Refuse rather than answer with its message.
      if (duplicate && message.channel !== msg.channel) throw new ProtocolError('conflict', 'this idempotency key clashes with another message of the sender');
      if (!duplicate) this.core.messages.deliver(message);
      return { message, duplicate };
    });
  }
}
