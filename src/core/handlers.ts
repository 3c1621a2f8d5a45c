/**
 * One handler per client command (docs/protocol.md section 2). A handler that
 * returns a promise holds back the connection's next command until it
 * settles; `send` returns at once once its offset is taken, so pipelined
 * sends are stored in one group commit yet keep their order.
 */
import { dmChannel, parseChannel, roomChannel } from '../channels.js';
import { ProtocolError } from '../errors.js';
import { type Target, withStatus } from '../types.js';
import type { Connection } from './connection.js';
import type { Hub } from './hub.js';
import { login } from './login.js';
import type { OnlineUser, RoomState } from './online.js';
import type { Command } from './validate.js';

type Handled = Promise<void> | undefined;

function me(conn: Connection): OnlineUser {
  if (!conn.user) throw new ProtocolError('not_logged_in');
  return conn.user;
}

function existingRoom(hub: Hub, name: string): RoomState {
  const room = hub.dir.rooms.get(name);
  if (!room) throw new ProtocolError('not_found', `no room "${name}"`);
  return room;
}

/** The room of a `to`, which the user must be a member of. */
function memberRoom(hub: Hub, user: OnlineUser, to: { room: string }): RoomState {
  const room = existingRoom(hub, to.room);
  if (!user.rooms.has(to.room)) throw new ProtocolError('forbidden', `not a member of "${to.room}"`);
  return room;
}

async function knownUser(hub: Hub, id: string): Promise<void> {
  if (hub.dir.users.has(id)) return;
  if (!(await hub.store.getUser(id))) throw new ProtocolError('not_found', `no user "${id}"`);
}

function send(hub: Hub, conn: Connection, cmd: Extract<Command, { cmd: 'send' }>): Handled {
  const user = me(conn);
  if (cmd.type === 'image' && hub.uploads && !hub.uploads.issued(cmd.body)) {
    throw new ProtocolError('bad_request', 'an image must be a URL this server issued on upload');
  }
  const base = { from: user.sender, to: cmd.to, type: cmd.type, body: cmd.body, cid: cmd.cid };
  if ('room' in cmd.to) {
    memberRoom(hub, user, cmd.to);
    hub.append(conn, { channel: roomChannel(cmd.to.room), ...base });
    return undefined;
  }
  const to = cmd.to.user;
  const channel = dmChannel(user.info.id, to);
  if (to === user.info.id || hub.dir.users.has(to)) {
    hub.append(conn, { channel, ...base });
    return undefined;
  }
  return knownUser(hub, to).then(() => hub.append(conn, { channel, ...base }));
}

async function join(hub: Hub, conn: Connection, name: string): Promise<void> {
  const user = me(conn);
  let room = hub.dir.rooms.get(name);
  if (!room) {
    if (!hub.config.allowRoomCreate) throw new ProtocolError('not_found', `no room "${name}"`);
    room = hub.dir.addRoom(await hub.store.ensureRoom({ name, title: name, membersOnly: false, createdAt: Date.now() }));
    hub.cluster.publish({ k: 'room', info: room.info });
  }
  const joining = !user.rooms.has(name);
  if (joining) {
    if (room.info.membersOnly && !(await hub.store.isMember(name, user.info.id))) {
      throw new ProtocolError('forbidden', `"${name}" is for members only`);
    }
    await hub.store.addMember(name, user.info.id);
    if (hub.dir.users.get(user.info.id) === user) {
      user.rooms.add(name);
      room.online.add(user);
    }
  }
  // Hold live messages while the history is read, so none is shown twice or out of order.
  conn.held = [];
  const channel = roomChannel(name);
  const history = hub.config.joinHistory > 0
    ? (await hub.store.history(channel, undefined, hub.config.joinHistory)).messages
    : [];
  const last = history.length > 0 ? (history[history.length - 1]?.offset ?? 0) : 0;
  if (hub.config.joinHistory > 0) hub.cluster.seed(channel, last);
  const members = hub.presenceLimit.list(room.online, room.online.size, user);
  if (members.total === undefined) hub.cluster.withRemote(members.users, name);
  const partial = members.total === undefined ? {} : { membersTotal: members.total, membersPartial: true };
  conn.release([JSON.stringify({ cmd: 'joined', room: name, members: members.users, ...partial, history })], new Map([[channel, last]]));
  if (joining) {
    const frame = hub.presence('join', user.info, name);
    roomPresence(hub, room, user, frame, conn);
    hub.cluster.membership('join', user, name, frame);
  }
}

async function leave(hub: Hub, conn: Connection, name: string): Promise<void> {
  const user = me(conn);
  const room = existingRoom(hub, name);
  const leaving = user.rooms.has(name);
  if (leaving) {
    await hub.store.removeMember(name, user.info.id);
    user.rooms.delete(name);
    room.online.delete(user);
  }
  conn.sendObject({ cmd: 'left', room: name });
  if (leaving) {
    const frame = hub.presence('leave', user.info, name);
    // Counted with the leaver, as the join was: one room size decides both.
    if (hub.presenceLimit.full(room.online.size + 1)) hub.dir.toRoom(room, frame);
    hub.dir.toUser(user, frame, conn);
    hub.cluster.membership('leave', user, name, frame);
  }
}

/** `presence join` to the room, or above --presence-limit only to the joiner's other connections. */
function roomPresence(hub: Hub, room: RoomState, user: OnlineUser, frame: string, except: Connection): void {
  if (hub.presenceLimit.full(room.online.size)) hub.dir.toRoom(room, frame, except);
  else hub.dir.toUser(user, frame, except);
}

async function history(hub: Hub, conn: Connection, cmd: Extract<Command, { cmd: 'history' }>): Promise<void> {
  const user = me(conn);
  const parsed = parseChannel(cmd.channel);
  if (!parsed) throw new ProtocolError('bad_request', 'invalid channel');
  if (parsed.kind === 'dm') {
    if (!parsed.users.includes(user.info.id)) throw new ProtocolError('forbidden', 'not your conversation');
  } else {
    const room = existingRoom(hub, parsed.room);
    if (room.info.membersOnly && !user.rooms.has(parsed.room)) throw new ProtocolError('forbidden', 'members only');
  }
  const page = await hub.store.history(cmd.channel, cmd.before, cmd.limit);
  conn.sendObject({ cmd: 'history', channel: cmd.channel, messages: page.messages, more: page.more });
}

/** Everyone online, or the online members of a room: of a members-only room, only to its members (as `history`). */
function online(hub: Hub, conn: Connection, name: string | undefined): Handled {
  if (name === undefined) {
    conn.sendObject({ cmd: 'online', users: hub.cluster.withRemote(hub.dir.onlineInfos()) });
    return undefined;
  }
  const room = existingRoom(hub, name);
  if (room.info.membersOnly && !me(conn).rooms.has(name)) throw new ProtocolError('forbidden', 'members only');
  conn.sendObject({ cmd: 'online', users: hub.cluster.withRemote([...room.online].map((u) => u.info), name), room: name });
  return undefined;
}

function typing(hub: Hub, conn: Connection, to: Target): Handled {
  const user = me(conn);
  const frame = JSON.stringify({ cmd: 'typing', from: user.info, to });
  if ('room' in to) hub.dir.toRoom(memberRoom(hub, user, to), frame, user);
  else if (to.user !== user.info.id) hub.dir.toUser(hub.dir.users.get(to.user), frame);
  hub.cluster.publish({ k: 'typing', from: user.info.id, to, frame });
  return undefined;
}

export function handle(hub: Hub, conn: Connection, cmd: Command): Handled {
  switch (cmd.cmd) {
    case 'login':
      return login(hub, conn, cmd);
    case 'send':
      return send(hub, conn, cmd);
    case 'join':
      return join(hub, conn, cmd.room);
    case 'leave':
      return leave(hub, conn, cmd.room);
    case 'history':
      return history(hub, conn, cmd);
    case 'online':
      return online(hub, conn, cmd.room);
    case 'status': {
      const user = me(conn);
      user.info = withStatus(user.info, cmd.status);
      const frame = hub.presence('status', user.info);
      // Above --presence-limit only the user's own connections hear of it (others see it in `online`).
      if (hub.presenceLimit.full(hub.dir.users.size)) hub.dir.toAll(frame);
      else hub.dir.toUser(user, frame);
      hub.cluster.status(user, frame);
      return undefined;
    }
    case 'typing':
      return typing(hub, conn, cmd.to);
    case 'ping':
      conn.sendObject({ cmd: 'pong', ts: cmd.ts ?? Date.now() });
      return undefined;
    case 'logout':
      conn.bye('logout');
      return undefined;
  }
}
