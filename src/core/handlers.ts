/**
 * One handler per client command (docs/protocol.md section 2). A handler that
 * returns a promise holds back the connection's next command until it
 * settles; `send` returns at once once its offset is taken, so pipelined
 * sends are stored in one group commit yet keep their order.
 */
import { dmChannel, parseChannel, roomChannel } from '../channels.js';
import type { Config } from '../config.js';
import { ProtocolError } from '../errors.js';
import type { HistoryStore } from '../store/store.js';
import { type Target, withStatus } from '../types.js';
import type { Cluster } from './cluster.js';
import type { Connection } from './connection.js';
import { leftFrame, presenceFrame } from './frames.js';
import { login, type LoginParts } from './login.js';
import type { Hooks } from '../hooks/hooks.js';
import type { NewMessage } from '../types.js';
import type { Messages } from './messages.js';
import type { OnlineUser, RoomState } from './online.js';
import { type Command, decode, type Limits } from './validate.js';

/** What the command handlers use of the running chat, besides what login uses. */
export interface CommandParts extends LoginParts {
  readonly config: LoginParts['config'] & Pick<Config, 'allowRoomCreate' | 'joinHistory'>;
  readonly store: LoginParts['store'] & Pick<HistoryStore, 'getUser' | 'ensureRoom' | 'isMember' | 'removeMember' | 'history'>;
  readonly cluster: LoginParts['cluster'] & Pick<Cluster, 'status'>;
  /** Which image URLs this server issued; undefined: any well-formed upload path passes. */
  readonly uploads: { issued(url: string): boolean } | undefined;
  readonly messages: Pick<Messages, 'append'>;
  readonly hooks: LoginParts['hooks'] & Pick<Hooks, 'publishOn' | 'publish'>;
  readonly limits: Limits;
}

type Handled = Promise<void> | undefined;

function me(conn: Connection): OnlineUser {
  if (!conn.user) throw new ProtocolError('not_logged_in');
  return conn.user;
}

function existingRoom(core: CommandParts, name: string): RoomState {
  const room = core.dir.rooms.get(name);
  if (!room) throw new ProtocolError('not_found', `no room "${name}"`);
  return room;
}

/** The room of a `to`, which the user must be a member of. */
function memberRoom(core: CommandParts, user: OnlineUser, to: { room: string }): RoomState {
  const room = existingRoom(core, to.room);
  if (!user.rooms.has(to.room)) throw new ProtocolError('forbidden', `not a member of "${to.room}"`);
  return room;
}

async function knownUser(core: CommandParts, id: string): Promise<void> {
  if (core.dir.users.has(id)) return;
  if (!(await core.store.getUser(id))) throw new ProtocolError('not_found', `no user "${id}"`);
}

function send(core: CommandParts, conn: Connection, cmd: Extract<Command, { cmd: 'send' }>): Handled {
  const user = me(conn);
  if (cmd.type === 'image' && core.uploads && !core.uploads.issued(cmd.body)) {
    throw new ProtocolError('bad_request', 'an image must be a URL this server issued on upload');
  }
  const base = { from: user.sender, to: cmd.to, type: cmd.type, body: cmd.body, cid: cmd.cid };
  if ('room' in cmd.to) {
    memberRoom(core, user, cmd.to);
    return store(core, conn, { channel: roomChannel(cmd.to.room), ...base });
  }
  const to = cmd.to.user;
  const channel = dmChannel(user.info.id, to);
  if (to === user.info.id || core.dir.users.has(to)) return store(core, conn, { channel, ...base });
  return knownUser(core, to).then(() => store(core, conn, { channel, ...base }));
}

/**
 * Stores a message, first asking the application's publish hook where it
 * is on for the channel: the connection's next command then waits for the
 * answer, so that its sends keep their order.
 */
function store(core: CommandParts, conn: Connection, msg: NewMessage): Handled {
  if (!core.hooks.publishOn(msg.channel)) {
    core.messages.append(conn, msg);
    return undefined;
  }
  const { channel, from, to, type, body, cid } = msg;
  return core.hooks.publish({ channel, from, to, type, body, cid }, (replaced) => storable(core, msg, replaced)).then((verdict) => {
    core.messages.append(conn, verdict.body === body ? msg : { ...msg, body: verdict.body });
  });
}

/** Whether a body the application put in place of the sender's is one a client could have sent. */
function storable(core: CommandParts, msg: NewMessage, body: string): boolean {
  try {
    decode({ cmd: 'send', to: msg.to, type: msg.type, body, cid: msg.cid }, core.limits);
  } catch {
    return false;
  }
  return msg.type !== 'image' || !core.uploads || core.uploads.issued(body);
}

async function join(core: CommandParts, conn: Connection, name: string): Promise<void> {
  const user = me(conn);
  let room = core.dir.rooms.get(name);
  if (!room) {
    if (!core.config.allowRoomCreate) throw new ProtocolError('not_found', `no room "${name}"`);
    room = core.dir.addRoom(await core.store.ensureRoom({ name, title: name, membersOnly: false, createdAt: Date.now() }));
    core.cluster.publish({ k: 'room', info: room.info });
  }
  const joining = !user.rooms.has(name);
  if (joining) {
    if (room.info.membersOnly && !(await core.store.isMember(name, user.info.id))) {
      throw new ProtocolError('forbidden', `"${name}" is for members only`);
    }
    await core.store.addMember(name, user.info.id);
    if (core.dir.users.get(user.info.id) === user) core.dir.enter(user, room);
  }
  // Hold live messages while the history is read, so none is shown twice or out of order.
  conn.held = [];
  const channel = roomChannel(name);
  const history = core.config.joinHistory > 0
    ? (await core.store.history(channel, undefined, core.config.joinHistory)).messages
    : [];
  const last = history.length > 0 ? (history[history.length - 1]?.offset ?? 0) : 0;
  if (core.config.joinHistory > 0) core.cluster.seed(channel, last);
  const members = core.presenceLimit.list(room.online, room.online.size, user);
  if (members.total === undefined) core.cluster.withRemote(members.users, name);
  const partial = members.total === undefined ? {} : { membersTotal: members.total, membersPartial: true };
  conn.release([JSON.stringify({ cmd: 'joined', room: name, members: members.users, ...partial, history })], new Map([[channel, last]]));
  if (joining) {
    const frame = presenceFrame('join', user.info, name);
    roomPresence(core, room, user, frame, conn);
    core.cluster.membership('join', user, name, frame);
  }
}

async function leave(core: CommandParts, conn: Connection, name: string): Promise<void> {
  const user = me(conn);
  const room = existingRoom(core, name);
  const leaving = user.rooms.has(name);
  if (leaving) {
    await core.store.removeMember(name, user.info.id);
    core.dir.exit(user, name);
  }
  conn.send(leftFrame(name));
  if (leaving) {
    const frame = presenceFrame('leave', user.info, name);
    // Counted with the leaver, as the join was: one room size decides both.
    if (core.presenceLimit.full(room.online.size + 1)) core.dir.toRoom(room, frame);
    core.dir.toUser(user, frame, conn);
    core.cluster.membership('leave', user, name, frame);
  }
}

/** `presence join` to the room, or above --presence-limit only to the joiner's other connections. */
function roomPresence(core: CommandParts, room: RoomState, user: OnlineUser, frame: string, except: Connection): void {
  if (core.presenceLimit.full(room.online.size)) core.dir.toRoom(room, frame, except);
  else core.dir.toUser(user, frame, except);
}

async function history(core: CommandParts, conn: Connection, cmd: Extract<Command, { cmd: 'history' }>): Promise<void> {
  const user = me(conn);
  const parsed = parseChannel(cmd.channel);
  if (!parsed) throw new ProtocolError('bad_request', 'invalid channel');
  if (parsed.kind === 'dm') {
    if (!parsed.users.includes(user.info.id)) throw new ProtocolError('forbidden', 'not your conversation');
  } else {
    const room = existingRoom(core, parsed.room);
    if (room.info.membersOnly && !user.rooms.has(parsed.room)) throw new ProtocolError('forbidden', 'members only');
  }
  const page = await core.store.history(cmd.channel, cmd.before, cmd.limit);
  conn.sendObject({ cmd: 'history', channel: cmd.channel, messages: page.messages, more: page.more });
}

/** Everyone online, or the online members of a room: of a members-only room, only to its members (as `history`). */
function online(core: CommandParts, conn: Connection, name: string | undefined): Handled {
  if (name === undefined) {
    conn.sendObject({ cmd: 'online', users: core.cluster.withRemote(core.dir.onlineInfos()) });
    return undefined;
  }
  const room = existingRoom(core, name);
  if (room.info.membersOnly && !me(conn).rooms.has(name)) throw new ProtocolError('forbidden', 'members only');
  conn.sendObject({ cmd: 'online', users: core.cluster.withRemote([...room.online].map((u) => u.info), name), room: name });
  return undefined;
}

function typing(core: CommandParts, conn: Connection, to: Target): Handled {
  const user = me(conn);
  const frame = JSON.stringify({ cmd: 'typing', from: user.info, to });
  if ('room' in to) core.dir.toRoom(memberRoom(core, user, to), frame, user);
  else if (to.user !== user.info.id) core.dir.toUser(core.dir.users.get(to.user), frame);
  core.cluster.publish({ k: 'typing', from: user.info.id, to, frame });
  return undefined;
}

export function handle(core: CommandParts, conn: Connection, cmd: Command): Handled {
  switch (cmd.cmd) {
    case 'login':
      return login(core, conn, cmd);
    case 'send':
      return send(core, conn, cmd);
    case 'join':
      return join(core, conn, cmd.room);
    case 'leave':
      return leave(core, conn, cmd.room);
    case 'history':
      return history(core, conn, cmd);
    case 'online':
      return online(core, conn, cmd.room);
    case 'status': {
      const user = me(conn);
      user.info = withStatus(user.info, cmd.status);
      const frame = presenceFrame('status', user.info);
      // Above --presence-limit only the user's own connections hear of it (others see it in `online`).
      if (core.presenceLimit.full(core.dir.users.size)) core.dir.toAll(frame);
      else core.dir.toUser(user, frame);
      core.cluster.status(user, frame);
      return undefined;
    }
    case 'typing':
      return typing(core, conn, cmd.to);
    case 'ping':
      conn.sendObject({ cmd: 'pong', ts: cmd.ts ?? Date.now() });
      return undefined;
    case 'logout':
      conn.bye('logout');
      return undefined;
  }
}
