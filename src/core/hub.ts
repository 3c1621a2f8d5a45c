/**
 * The chat core's entry point and its composition: every transport attaches
 * its connections here and hands over what arrives. The hub parses,
 * rate-limits, keeps each connection's commands in order and dispatches
 * them to the handlers; it never asks which transport carried a message.
 *
 * It also builds the parts of the core and hands each the few others it
 * uses (`parts`): the directory of who is online, the message flow
 * (src/core/messages.ts) and fan-out (src/core/fanout.ts), the cluster
 * side of the bus, the guest name holds. A room message enters the hub
 * once, as the text a transport received, and leaves through those parts
 * (docs/architecture.md).
 */
import type { ConnectionInfo, Transport, TransportHost } from './transport.js';
import type { TokenService } from '../auth/tokens.js';
import type { Config } from '../config.js';
import type { Log } from '../log.js';
import type { HistoryStore } from '../store/store.js';
import type { Frame } from '../types.js';
import type { Bus } from '../bus/bus.js';
import { LocalBus } from '../bus/local.js';
import type { AdminParts } from './admin.js';
import type { ApiParts } from './api.js';
import { Cluster } from './cluster.js';
import { Connection, type ConnectionOwner } from './connection.js';
import { answerFailure } from './failure.js';
import { Fanout } from './fanout.js';
import { GuestHolds } from './guest-holds.js';
import { type CommandParts, handle } from './handlers.js';
import { Heartbeat } from './heartbeat.js';
import { Messages } from './messages.js';
import { Directory } from './online.js';
import { Hooks } from '../hooks/hooks.js';
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
  /** What the command handlers, login, the admin operations and the server API get: the parts they use, never the hub. */
  readonly parts: CommandParts & AdminParts & ApiParts;
  /** Which guest names are held for whom (src/core/guest-holds.ts). */
  private readonly guests: GuestHolds;
  /** The application's hooks (src/hooks/hooks.ts); every hook off unless configured. */
  readonly hooks: Hooks;
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
    const { dir, store, stats, log, presenceLimit } = this;
    const fanout = new Fanout(dir, store, log);
    const cluster = new Cluster({ dir, store, log, stats, presenceLimit, deliver: fanout.deliverFrame.bind(fanout) }, opts.bus ?? new LocalBus());
    this.cluster = cluster;
    const holdSeconds = opts.config.guestHold > 0 ? opts.config.guestHold : opts.config.tokenTtl;
    const guests = new GuestHolds(store, holdSeconds * 1000, (id) => cluster.isOnline(id));
    this.guests = guests;
    const hooks = new Hooks(opts.config, log);
    this.hooks = hooks;
    this.parts = {
      config: opts.config,
      store,
      tokens: opts.tokens,
      guests,
      dir,
      cluster,
      presenceLimit,
      stats,
      fanout,
      // Only with the offline hook on does a stored private message cost a look at who is online.
      messages: new Messages(store, stats, log, cluster, hooks.offlineOn ? (message, users) => hooks.stored(message, users, (id) => cluster.isOnline(id)) : undefined),
      hooks,
      uploads: opts.uploads,
      limits: this.limits,
      unregister: (conn) => this.unregister(conn),
    };
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
    conn.forwarded = this.hooks.forwarded(info.headers);
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
    // The ref first: a client matches a refused send by its cid, to send it again.
    const ref = errorRef(frame);
    if (frame.cmd !== 'ping' && !this.admitRate(conn, ref)) return undefined;
    if (!conn.user && !PRE_LOGIN.has(frame.cmd)) {
      conn.error('not_logged_in', undefined, ref);
      return undefined;
    }
    try {
      const result = handle(this.parts, conn, decode(frame, this.limits));
      return result?.catch((err: unknown) => answerFailure(conn, err, this.log, ref));
    } catch (err) {
      answerFailure(conn, err, this.log, ref);
      return undefined;
    }
  }

  private admitRate(conn: Connection, ref?: string): boolean {
    if (conn.bucket.take()) {
      conn.strikes = 0;
      return true;
    }
    conn.strikes++;
    this.stats.rateLimited++;
    if (conn.strikes > this.config.rateBurst) conn.bye('rate_limited');
    else conn.error('rate_limited', undefined, ref);
    return false;
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
    this.dir.removeUser(user);
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
