/**
 * `login` (docs/protocol.md sections 2, 3.2, 3.3 and 7): establishes who the
 * connection speaks for, registers it as online, and replays what the
 * client missed before any new message reaches it.
 *
 * Everything that must not interleave with another login of the same name
 * (the `name_taken` check and the registration) runs synchronously after
 * the last await, so two racing logins cannot both win.
 */
import { guestId, isReservedId } from '../auth/guest.js';
import { defaultAvatar } from '../avatars.js';
import { parseChannel } from '../channels.js';
import { ProtocolError } from '../errors.js';
import type { TokenService } from '../auth/tokens.js';
import type { Hooks } from '../hooks/hooks.js';
import type { Config } from '../config.js';
import type { HistoryStore, LoginKind } from '../store/store.js';
import { type Sender, withStatus } from '../types.js';
import type { Connection } from './connection.js';
import type { Cluster } from './cluster.js';
import type { Fanout } from './fanout.js';
import { messageFrame, presenceFrame } from './frames.js';
import type { GuestHolds, TakenName } from './guest-holds.js';
import { type Directory, OnlineUser } from './online.js';
import type { PresenceLimit } from './presence-limit.js';
import type { ChatStats } from './stats.js';
import type { Command } from './validate.js';

type LoginCommand = Extract<Command, { cmd: 'login' }>;

/** What `login` uses of the running chat. */
export interface LoginParts {
  readonly config: Pick<Config, 'guestLogin' | 'replayLimit' | 'heartbeatInterval'>;
  readonly store: Pick<HistoryStore, 'saveUser' | 'addMember' | 'roomsOf' | 'getDelivered' | 'dmChannelsOf' | 'since'>;
  readonly tokens: Pick<TokenService, 'verify' | 'sign'>;
  readonly guests: Pick<GuestHolds, 'take' | 'proves'>;
  readonly dir: Directory;
  readonly cluster: Pick<Cluster, 'isOnline' | 'claim' | 'release' | 'publish' | 'online' | 'membership' | 'seed' | 'withRemote' | 'roomList'>;
  readonly presenceLimit: PresenceLimit;
  readonly stats: ChatStats;
  readonly fanout: Pick<Fanout, 'remember'>;
  readonly hooks: Pick<Hooks, 'loginOn' | 'login'>;
  /** Takes a connection off its user again (a login that failed after registering it). */
  unregister(conn: Connection): void;
}

/** A name for a token that carries none: the sub, cut to the 32 code points a name may have. */
function nameFromId(id: string): string {
  return [...id].slice(0, 32).join('');
}

const NO_GUESTS = 'this server takes no guest logins: log in through the site that sent you here';

const RETIRED = 'this guest identity has ended (unused for longer than the server holds a name): log in with a name again';

interface Identity {
  who: Sender;
  proven: boolean;
  via: LoginKind;
  /** A name login's take of the name, to undo if the client never gets `login`. */
  taken?: TakenName;
}

/**
 * Who the login speaks for, whether a token proved it (a proven identity
 * may join its own online session), and whether a host application's token
 * did (`via`; a guest's token webim issued proves only the guest). A valid
 * token always wins: its `sub` is the user, its profile claims come before
 * the login's own `name` and `avatar`, which only fill in what the token
 * leaves out. A guest's token proves its identity only while the name is
 * still held for it; a name alone gets the name only when nobody holds it.
 */
async function identify(core: LoginParts, conn: Connection, cmd: LoginCommand): Promise<Identity> {
  if (cmd.token !== undefined) {
    const claims = await core.tokens.verify(cmd.token);
    if (!claims) throw new ProtocolError('unauthorized');
    if (claims.guest && !core.config.guestLogin) throw new ProtocolError('unauthorized', NO_GUESTS);
    if (claims.guest && !isReservedId(claims.id) && !(await core.guests.proves(claims.id))) throw new ProtocolError('unauthorized', RETIRED);
    const { id } = claims;
    const name = claims.name ?? cmd.name ?? nameFromId(id);
    const who = { id, name, avatar: claims.avatar ?? cmd.avatar ?? defaultAvatar(id) };
    return { who, proven: true, via: claims.guest ? 'guest' : 'token' };
  }
  if (core.hooks.loginOn) {
    const vouched = await askTheApplication(core, conn, cmd);
    if (vouched) return vouched;
  }
  if (!core.config.guestLogin) throw new ProtocolError('unauthorized', NO_GUESTS);
  const name = cmd.name as string; // validate() requires a name when there is no token
  // `System` (the sender of admin notices) is taken for good, and never held.
  if (isReservedId(guestId(name))) throw new ProtocolError('name_taken', 'that name is reserved');
  const taken = await core.guests.take(name);
  const id = taken.id;
  return { who: { id, name, avatar: cmd.avatar ?? defaultAvatar(id) }, proven: false, via: 'guest', taken };
}

/**
 * The login hook: the application says who a login without a token is (its
 * user, as a token it signed would) or refuses it. Undefined when the hook
 * failed and its policy is to go on as if there were none (a guest login).
 */
async function askTheApplication(core: LoginParts, conn: Connection, cmd: LoginCommand): Promise<Identity | undefined> {
  const verdict = await core.hooks.login({
    name: cmd.name,
    avatar: cmd.avatar,
    transport: conn.transport.name,
    ip: conn.ip,
    headers: conn.forwarded ?? {},
  });
  if (verdict === undefined) return undefined;
  if ('reject' in verdict) throw new ProtocolError('unauthorized', verdict.reject);
  const { id } = verdict.user;
  const who = { id, name: verdict.user.name ?? cmd.name ?? nameFromId(id), avatar: verdict.user.avatar ?? cmd.avatar ?? defaultAvatar(id) };
  return { who, proven: true, via: 'token' };
}

/** The `name_taken` of a guest login (name or guest token) whose id a host application's user has. */
function registeredName(): ProtocolError {
  return new ProtocolError('name_taken', 'that name belongs to a registered user');
}

interface Replay {
  frames: string[];
  covered: Map<string, number>;
  recovered: boolean;
}

/** The channels to replay and from which offset: private ones always, rooms where the client sent a cursor. */
async function replayPlan(core: LoginParts, user: OnlineUser, cursors: Map<string, number>): Promise<Map<string, number>> {
  const id = user.info.id;
  const [delivered, dms] = await Promise.all([core.store.getDelivered(id), core.store.dmChannelsOf(id)]);
  const plan = new Map<string, number>();
  for (const channel of dms) plan.set(channel, cursors.get(channel) ?? delivered.get(channel) ?? 0);
  for (const [channel, offset] of cursors) {
    const parsed = parseChannel(channel);
    if (parsed?.kind === 'room' && user.rooms.has(parsed.room)) plan.set(channel, offset);
  }
  return plan;
}

async function replay(core: LoginParts, user: OnlineUser, cursors: Map<string, number>): Promise<Replay> {
  const out: Replay = { frames: [], covered: new Map(), recovered: true };
  const plan = await replayPlan(core, user, cursors);
  for (const [channel, after] of plan) {
    const page = await core.store.since(channel, after, core.config.replayLimit);
    if (!page.complete) out.recovered = false;
    let last = after;
    for (const m of page.messages) {
      out.frames.push(messageFrame(m));
      last = m.offset;
    }
    out.covered.set(channel, last);
    if (last > after && channel.startsWith('dm:')) core.fanout.remember(user.info.id, channel, last);
  }
  return out;
}

export async function login(core: LoginParts, conn: Connection, cmd: LoginCommand): Promise<void> {
  if (conn.user || conn.loggingIn) throw new ProtocolError('bad_request', 'already logged in');
  conn.loggingIn = true;
  let taken: TakenName | undefined;
  let answered = false;
  try {
    const id = await identify(core, conn, cmd);
    taken = id.taken;
    const { who, proven, via } = id;
    // `System` (the sender of admin notices) is taken for good; a token cannot claim it either.
    if (isReservedId(who.id)) throw new ProtocolError('name_taken', 'that name is reserved');
    if (!proven && core.cluster.isOnline(who.id)) throw new ProtocolError('name_taken');
    // The store refuses a guest the id of anyone who ever logged in with a host application's token, on every node.
    const saved = await core.store.saveUser(who, via);
    if (saved === 'refused') throw registeredName();
    if (via === 'token') {
      // Guests who entered the id before its first token login go, here and on the other nodes.
      core.dir.endGuestSession(who.id);
      if (saved === 'first_token') core.cluster.publish({ k: 'kick', user: who.id, guests: true });
    }
    const isNew = saved === 'new';
    if (isNew) await core.store.addMember('lobby', who.id);
    const rooms = await core.store.roomsOf(who.id);
    // The cross-node claim (always granted on one node): atomic, so two nodes cannot both let one guest name in.
    if (!core.dir.users.has(who.id) && !(await core.cluster.claim(withStatus(who, 'online'), rooms, !proven))) {
      throw new ProtocolError('name_taken');
    }
    if (!conn.isOpen) {
      if (!core.dir.users.has(who.id)) core.cluster.release(who.id);
      return;
    }
    // Re-checked: another login of this name may have finished while we awaited.
    if (!proven && core.dir.users.has(who.id)) throw new ProtocolError('name_taken');
    let user = core.dir.users.get(who.id);
    if (user && user.guest !== (via === 'guest')) {
      // A guest token's login and the id's first token login crossed: the token user keeps the id.
      if (via === 'guest') throw registeredName();
      core.dir.endGuestSession(who.id);
      user = undefined;
      // The guest's last connection released this node's claim on the id: take it again (in order on the bus).
      void core.cluster.claim(withStatus(who, 'online'), rooms, false);
    }

    const first = user === undefined;
    if (!user) {
      user = new OnlineUser(withStatus(who, 'online'), via === 'guest');
      core.dir.users.set(who.id, user);
      for (const name of rooms) {
        const room = core.dir.rooms.get(name);
        if (room) core.dir.enter(user, room);
      }
    }
    conn.user = user;
    user.conns.add(conn);
    conn.held = [];
    if (first) core.cluster.online(user, conn, core.presenceLimit.full(core.dir.users.size));
    // The first login ever made the user a lobby member: say so, as an explicit `join` would.
    const lobby = core.dir.rooms.get('lobby');
    if (isNew && lobby && user.rooms.has('lobby')) {
      const joinFrame = presenceFrame('join', user.info, 'lobby');
      if (core.presenceLimit.full(lobby.online.size)) core.dir.toRoom(lobby, joinFrame, user);
      core.cluster.membership('join', user, 'lobby', joinFrame);
    }

    let replayed: [Replay, string];
    try {
      replayed = await Promise.all([replay(core, user, cmd.cursors), core.tokens.sign(who, { guest: via === 'guest' })]);
    } catch (err) {
      // The client never saw `login`: undo it, so a retry starts from scratch.
      conn.held = null;
      // Before the user goes offline, whose end of use would mark the hold as used again.
      await taken?.release();
      taken = undefined;
      core.unregister(conn);
      throw err;
    }
    const [{ frames, covered, recovered }, token] = replayed;
    // Live messages of these channels continue after what the replay covered (matters with several nodes).
    for (const [channel, last] of covered) core.cluster.seed(channel, last);
    const online = core.presenceLimit.list(core.dir.users.values(), core.dir.users.size, user);
    const answer = JSON.stringify({
      cmd: 'login',
      user: user.info,
      token,
      online: online.total === undefined ? core.cluster.withRemote(online.users) : online.users,
      // Only above --presence-limit: the list is a sample (docs/choices.md, "Presence at scale").
      ...(online.total === undefined ? {} : { onlineTotal: online.total, onlinePartial: true }),
      rooms: core.cluster.roomList(),
      joined: [...user.rooms],
      heartbeat: core.config.heartbeatInterval,
      recovered,
    });
    conn.release([answer, ...frames], covered);
    answered = true;
    core.stats.logins++;
  } finally {
    conn.loggingIn = false;
    // The client never learnt the id it took (refused, or gone meanwhile): the name is not held for it.
    if (taken && !answered) await taken.release();
  }
}
