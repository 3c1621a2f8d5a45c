/**
 * The chat core's entry point: every transport attaches its connections
 * here and hands over what arrives. The hub parses, rate-limits, keeps each
 * connection's commands in order, dispatches them to the handlers, and fans
 * stored messages out. It never asks which transport carried a message.
 */
import type { ConnectionInfo, Transport, TransportHost } from '../../transports/transport.js';
import type { TokenService } from '../auth/tokens.js';
import { parseChannel } from '../channels.js';
import type { Config } from '../config.js';
import { ProtocolError, StoreUnavailableError } from '../errors.js';
import type { Log } from '../log.js';
import type { AppendResult, HistoryStore } from '../store/store.js';
import type { Frame, NewMessage, StoredMessage, UserInfo } from '../types.js';
import type { Bus } from '../bus/bus.js';
import { LocalBus } from '../bus/local.js';
import { Cluster } from './cluster.js';
import { GuestHolds } from './guest-holds.js';
import { Connection, type ConnectionOwner } from './connection.js';
import { handle } from './handlers.js';
import { Heartbeat } from './heartbeat.js';
import { Directory } from './online.js';
import { PresenceLimit } from './presence-limit.js';
import { ChatStats } from './stats.js';
import { decode, errorRef, type Limits } from './validate.js';

const PRE_LOGIN = new Set(['login', 'ping', 'logout']);
/** Messages queued behind a slow command; beyond this a client is flooding, not pipelining. */
const MAX_BACKLOG = 1000;

export interface HubOptions {
  config: Config;
  store: HistoryStore;
  tokens: TokenService;
  log: Log;
  /** Which image URLs the server issued; without one, any well-formed upload path passes. */
  uploads?: { issued(url: string): boolean };
  /** What crosses to other nodes (src/bus/bus.ts); default: none, a single node. */
  bus?: Bus;
}

export class Hub implements TransportHost, ConnectionOwner {
  readonly dir = new Directory();
  readonly conns = new Set<Connection>();
  readonly stats = new ChatStats();
  readonly config: Config;
  readonly store: HistoryStore;
  readonly tokens: TokenService;
  readonly log: Log;
  readonly uploads: { issued(url: string): boolean } | undefined;
  readonly limits: Limits;
  readonly sendBufferLimit: number;
  /** Above `--presence-limit` users online, presence stops going to everyone (src/core/presence-limit.ts). */
  readonly presenceLimit: PresenceLimit;
  /** The other nodes: what goes on the bus, and the users online there (src/core/cluster.ts). */
  readonly cluster: Cluster;
  /** Which guest names are held for whom (src/core/guest-holds.ts). */
  readonly guests: GuestHolds;
  private readonly ipCounts = new Map<string, number>();
  private readonly heartbeat: Heartbeat;
  private accepting = true;

  constructor(opts: HubOptions) {
    this.config = opts.config;
    this.store = opts.store;
    this.tokens = opts.tokens;
    this.log = opts.log;
    this.uploads = opts.uploads;
    this.limits = { maxTextLength: opts.config.maxTextLength };
    this.sendBufferLimit = opts.config.sendBufferLimit;
    this.presenceLimit = new PresenceLimit(opts.config.presenceLimit);
    this.cluster = new Cluster(this, opts.bus ?? new LocalBus());
    const holdSeconds = opts.config.guestHold > 0 ? opts.config.guestHold : opts.config.tokenTtl;
    this.guests = new GuestHolds(this.store, holdSeconds * 1000, (id) => this.cluster.isOnline(id));
    this.heartbeat = new Heartbeat(this.conns, opts.config.heartbeatInterval, opts.config.heartbeatTimeout);
  }

  /** Loads the rooms and makes sure `lobby` exists. The store must be initialised. */
  async start(): Promise<void> {
    await this.store.ensureRoom({ name: 'lobby', title: 'Lobby', membersOnly: false, createdAt: Date.now() });
    for (const room of await this.store.listRooms()) this.dir.addRoom(room);
    await this.cluster.start();
    this.heartbeat.start();
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  attach(transport: Transport, info: ConnectionInfo): Connection {
    const conn = new Connection(transport, info.ip, this, this.config.rateLimit, this.config.rateBurst);
    if (!this.accepting) {
      conn.bye('shutdown');
      return conn;
    }
    const count = this.ipCounts.get(info.ip) ?? 0;
    if (count >= this.config.maxConnectionsPerIp) {
      conn.bye('too_many_connections');
      return conn;
    }
    this.ipCounts.set(info.ip, count + 1);
    this.conns.add(conn);
    this.stats.connections[transport.name]++;
    return conn;
  }

  /** Whether one more connection from this address would be accepted (for transports that can refuse early). */
  admits(ip: string): boolean {
    return this.accepting && (this.ipCounts.get(ip) ?? 0) < this.config.maxConnectionsPerIp;
  }

  receive(conn: Connection, data: string): void {
    if (conn.backlog) {
      if (conn.backlog.length >= MAX_BACKLOG) conn.bye('rate_limited');
      else conn.backlog.push(data);
      return;
    }
    const pending = this.process(conn, data);
    if (pending) {
      conn.backlog = [];
      void pending.then(() => this.drain(conn));
    }
  }

  private drain(conn: Connection): void {
    const backlog = conn.backlog;
    while (backlog && backlog.length > 0 && conn.isOpen) {
      const pending = this.process(conn, backlog.shift() as string);
      if (pending) {
        void pending.then(() => this.drain(conn));
        return;
      }
    }
    conn.backlog = null;
  }

  /** Handles one message; a promise when it must finish before the next one starts. */
  private process(conn: Connection, data: string): Promise<void> | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.stats.messageIn(undefined);
      if (this.admitRate(conn)) conn.error('bad_json');
      return undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || typeof (parsed as Frame).cmd !== 'string') {
      this.stats.messageIn(undefined);
      if (this.admitRate(conn)) conn.error('bad_request', 'a message must be a JSON object with a string "cmd"');
      return undefined;
    }
    const frame = parsed as Frame;
    this.stats.messageIn(frame.cmd);
    if (frame.cmd !== 'ping' && !this.admitRate(conn)) return undefined;
    const ref = errorRef(frame);
    if (!conn.user && !PRE_LOGIN.has(frame.cmd)) {
      conn.error('not_logged_in', undefined, ref);
      return undefined;
    }
    try {
      const result = handle(this, conn, decode(frame, this.limits));
      return result?.catch((err: unknown) => this.fail(conn, err, ref));
    } catch (err) {
      this.fail(conn, err, ref);
      return undefined;
    }
  }

  private admitRate(conn: Connection): boolean {
    if (conn.bucket.take()) {
      conn.strikes = 0;
      return true;
    }
    conn.strikes++;
    this.stats.rateLimited++;
    if (conn.strikes > this.config.rateBurst) conn.bye('rate_limited');
    else conn.error('rate_limited');
    return false;
  }

  fail(conn: Connection, err: unknown, ref?: string): void {
    if (err instanceof ProtocolError) {
      conn.error(err.code, err.message, ref);
    } else if (err instanceof StoreUnavailableError) {
      this.log.warn({ err }, 'store unavailable');
      conn.error('server_busy', undefined, ref);
    } else {
      this.log.error({ err, ref }, 'command failed');
      conn.error('internal', undefined, ref);
    }
  }

  /** Stores a message, then acks it to its sender and fans it out, in commit order. */
  append(conn: Connection, msg: NewMessage): void {
    this.storeAppend(msg).then(
      ({ message, duplicate }) => {
        const { cid, id, channel, offset, ts } = message;
        conn.sendObject({ cmd: 'ack', cid, id, channel, offset, ts });
        if (!duplicate) this.deliver(message);
      },
      (err: unknown) => this.fail(conn, err, msg.cid),
    );
  }

  /** store.append, timed from the call to the commit for `webim_store_append_seconds`. */
  storeAppend(msg: NewMessage): Promise<AppendResult> {
    const started = performance.now();
    const done = this.store.append(msg);
    // Observed in a `then` of its own: the caller's `then` still runs in offset order, and a failure is the caller's to report.
    done.then(
      () => this.stats.observeAppend((performance.now() - started) / 1000),
      () => undefined,
    );
    return done;
  }

  /** Sends a stored message to every connection that should see it. */
  deliver(message: StoredMessage): void {
    // Serialized once: the other nodes get this very frame over the bus.
    this.cluster.stored(message.channel, message.offset, JSON.stringify({ cmd: 'message', ...message }));
  }

  /** Sends a stored message's frame to this node's connections that should see it, in offset order. */
  deliverFrame(channel: string, offset: number, frame: string): void {
    const parsed = parseChannel(channel);
    if (!parsed) return;
    if (parsed.kind === 'room') {
      const room = this.dir.rooms.get(parsed.room);
      if (room) this.dir.toRoom(room, frame, undefined, channel, offset);
      return;
    }
    const [a, b] = parsed.users;
    for (const id of a === b ? [a] : [a, b]) {
      const user = this.dir.users.get(id);
      if (!user || user.conns.size === 0) continue;
      this.dir.toUser(user, frame, undefined, channel, offset);
      this.remember(id, channel, offset);
    }
  }

  /** Records that a private message reached one of the user's connections (offline delivery, 3.2). */
  remember(userId: string, channel: string, offset: number): void {
    this.store.setDelivered(userId, channel, offset).catch((err: unknown) => {
      this.log.warn({ err, channel }, 'could not record delivery cursor');
    });
  }

  presence(event: 'online' | 'offline' | 'status' | 'join' | 'leave', user: UserInfo, room?: string): string {
    return JSON.stringify(room === undefined ? { cmd: 'presence', event, user } : { cmd: 'presence', event, user, room });
  }

  detach(conn: Connection): void {
    if (!this.conns.delete(conn)) return;
    this.stats.connections[conn.transport.name]--;
    const n = (this.ipCounts.get(conn.ip) ?? 1) - 1;
    if (n <= 0) this.ipCounts.delete(conn.ip);
    else this.ipCounts.set(conn.ip, n);
    this.unregister(conn);
  }

  /** Takes the connection off its user; the user goes offline with its last connection. */
  unregister(conn: Connection): void {
    const user = conn.user;
    if (!user) return;
    conn.user = undefined;
    user.conns.delete(conn);
    if (user.conns.size > 0 || this.dir.users.get(user.info.id) !== user) return;
    this.dir.users.delete(user.info.id);
    for (const name of user.rooms) this.dir.rooms.get(name)?.online.delete(user);
    this.cluster.offline(user, this.presenceLimit.full(this.dir.users.size));
    // The hold of a guest's name runs from its last use (src/core/guest-holds.ts).
    if (user.guest) {
      this.guests.touch(user.info.id).catch((err: unknown) => this.log.warn({ err }, 'could not mark a guest name used'));
    }
  }

  /** Says `bye` with `reconnect: true` to everyone and stops taking connections. */
  shutdown(): void {
    this.accepting = false;
    this.heartbeat.stop();
    for (const conn of [...this.conns]) conn.bye('shutdown');
  }
}
