/**
 * The bus over Redis (`--redis redis://...`): one pub/sub channel for the
 * events, and keys for presence, all under one prefix (`--redis-prefix`):
 *
 *   <p>:bus                   the pub/sub channel every node subscribes to
 *   <p>:nodes                 set of node ids that registered
 *   <p>:node:<id>:alive       heartbeat, refreshed every --node-heartbeat ms, expires after --node-timeout
 *   <p>:node:<id>:users       hash: user id -> JSON PresenceRecord, the node's users online
 *   <p>:user:<user id>        hash: node id -> 1, the nodes holding the user (the cross-node name claim)
 *
 * Commands are never queued while Redis is away (the offline queue is
 * off): the node keeps serving its own clients, remembers the newest
 * offset per channel it could not announce, and on reconnect registers
 * again, publishes those `heads` and asks the hub to resync (presence and
 * gap filling from the store). Pub/sub re-subscribes by itself.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Log } from '../log.js';
import type { Bus, BusEnvelope, BusEvent, BusHandlers, PresenceRecord } from './bus.js';
import { wallClock } from './clock.js';


export interface RedisBusOptions {
  url: string;
  prefix: string;
  /** ms between heartbeats (and checks of the other nodes' heartbeats). */
  heartbeat: number;
  /** ms after its last heartbeat that a node counts as dead. */
  timeout: number;
  log: Log;
}

/** Atomic name claim: an exclusive claim fails while another live node holds the user. */
const CLAIM = `
if ARGV[3] == '1' then
  for _, n in ipairs(redis.call('hkeys', KEYS[1])) do
    if n ~= ARGV[1] and redis.call('exists', ARGV[5] .. ':node:' .. n .. ':alive') == 1 then return 0 end
  end
end
redis.call('hset', KEYS[1], ARGV[1], '1')
redis.call('hset', KEYS[2], ARGV[4], ARGV[2])
return 1`;

export class RedisBus implements Bus {
  readonly nodeId = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  readonly distributed = true;
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private handlers: BusHandlers | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Other nodes seen alive: a node in here whose heartbeat is gone is reported down once. */
  private readonly known = new Set<string>();
  /** Newest offset per channel whose `message` could not be published. */
  private readonly unsent = new Map<string, number>();
  private everReady = false;
  /** Until then no node counts as dead: after Redis came back empty, the others need a moment to register again. */
  private graceUntil = 0;
  private resyncing = false;
  private closing = false;
  private lastError = 0;
  private readonly retryCapMs: number;

  constructor(private readonly opts: RedisBusOptions) {
    this.retryCapMs = Math.max(50, Math.min(1000, Math.floor(opts.timeout / 4)));
    const common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // Reconnect fast and for ever: a node without Redis still serves its own clients. At most a quarter of the node
      // timeout apart, so that after an outage every node is back well before the others' final resync counts it gone.
      retryStrategy: (times: number) => Math.min(100 * times, this.retryCapMs),
    };
    this.cmd = new Redis(opts.url, common);
    this.sub = new Redis(opts.url, common);
    for (const client of [this.cmd, this.sub]) client.on('error', (err: Error) => this.warn(err, 'redis error'));
  }

  private key(...parts: string[]): string {
    return [this.opts.prefix, ...parts].join(':');
  }

  get connected(): boolean {
    return this.cmd.status === 'ready' && this.sub.status === 'ready';
  }

  private warn(err: unknown, msg: string): void {
    // One line a second at most: a Redis that is away fails every command.
    const now = Date.now();
    if (now - this.lastError < 1000) return;
    this.lastError = now;
    this.opts.log.warn({ err }, msg);
  }

  async start(handlers: BusHandlers): Promise<void> {
    this.handlers = handlers;
    this.sub.on('message', (_channel: string, text: string) => this.receive(text));
    try {
      await Promise.all([this.cmd.connect(), this.sub.connect()]);
    } catch (err) {
      // No retrying at start: a node that cannot reach its cluster should say so, not serve alone.
      this.cmd.disconnect();
      this.sub.disconnect();
      throw new Error(`cannot reach Redis at ${new URL(this.opts.url).host} (--redis): ${err instanceof Error ? err.message : String(err)}`);
    }
    await this.sub.subscribe(this.key('bus'));
    await this.register();
    for (const node of (await this.liveNodes()).live) this.known.add(node);
    this.everReady = true;
    for (const client of [this.cmd, this.sub]) client.on('ready', () => this.reconnected());
    this.timer = setInterval(() => void this.beat(), this.opts.heartbeat);
    this.timer.unref();
  }

  private receive(text: string): void {
    let env: BusEnvelope;
    try {
      env = JSON.parse(text) as BusEnvelope;
    } catch (err) {
      this.warn(err, 'bad bus message');
      return;
    }
    if (env.node === this.nodeId) return;
    if (env.event.k === 'node-down') this.known.delete(env.node);
    else this.known.add(env.node);
    this.handlers?.event(env);
  }

  publish(event: BusEvent): void {
    const text = JSON.stringify({ node: this.nodeId, event, at: wallClock() } satisfies BusEnvelope);
    const failed = (err: unknown) => {
      this.warn(err, 'bus publish failed');
      if (event.k === 'message') this.unsent.set(event.channel, Math.max(event.offset, this.unsent.get(event.channel) ?? 0));
    };
    if (!this.connected) {
      failed(new Error('redis is not connected'));
      return;
    }
    this.cmd.publish(this.key('bus'), text).catch(failed);
  }

  private async register(): Promise<void> {
    await this.cmd.multi()
      .sadd(this.key('nodes'), this.nodeId)
      .set(this.key('node', this.nodeId, 'alive'), String(Date.now()), 'PX', this.opts.timeout)
      .exec();
  }

  /** Both clients are back: register again (Redis may have lost everything), then let the hub catch up. */
  private reconnected(): void {
    if (!this.everReady || this.closing || this.resyncing || !this.connected) return;
    this.resyncing = true;
    void (async () => {
      try {
        await this.sub.subscribe(this.key('bus'));
        await this.register();
        const records = this.handlers?.records() ?? [];
        for (const record of records) await this.claim(record, false);
        // Users who left while their release could not reach Redis (it stayed up, this node lost it) must not keep their names.
        const mine = new Set(records.map((r) => r.user.id));
        for (const id of await this.cmd.hkeys(this.key('node', this.nodeId, 'users'))) if (!mine.has(id)) this.release(id);
        const heads = [...this.unsent];
        this.unsent.clear();
        if (heads.length > 0) this.publish({ k: 'heads', heads });
        this.graceUntil = Date.now() + this.opts.timeout;
        this.opts.log.info({ node: this.nodeId }, 'bus reconnected');
        this.handlers?.resync(false);
        // After a node timeout every live node has registered again, give or take one retry interval of a node that
        // reconnected just after us: only then may the resync count missing users as gone.
        setTimeout(() => {
          if (!this.closing) this.handlers?.resync(true);
        }, this.opts.timeout + this.opts.heartbeat + this.retryCapMs).unref();
      } catch (err) {
        this.warn(err, 'bus resync failed; retrying');
        setTimeout(() => this.reconnected(), 500).unref();
      } finally {
        this.resyncing = false;
      }
    })();
  }

  /** Refreshes this node's heartbeat, then looks for nodes whose heartbeat expired. */
  private async beat(): Promise<void> {
    if (!this.connected) return;
    try {
      await this.cmd.set(this.key('node', this.nodeId, 'alive'), String(Date.now()), 'PX', this.opts.timeout);
      if (Date.now() < this.graceUntil) return;
      const { live, dead } = await this.liveNodes();
      for (const node of dead) await this.reap(node);
      const down = [...this.known].filter((n) => !live.includes(n));
      for (const n of down) this.known.delete(n);
      for (const n of live) this.known.add(n);
      if (down.length > 0) this.handlers?.nodesDown(down);
    } catch (err) {
      this.warn(err, 'bus heartbeat failed');
    }
  }

  private async liveNodes(): Promise<{ live: string[]; dead: string[] }> {
    const nodes = (await this.cmd.smembers(this.key('nodes'))).filter((n) => n !== this.nodeId);
    if (nodes.length === 0) return { live: [], dead: [] };
    const pipe = this.cmd.pipeline();
    for (const n of nodes) pipe.exists(this.key('node', n, 'alive'));
    const res = (await pipe.exec()) ?? [];
    const live: string[] = [];
    const dead: string[] = [];
    nodes.forEach((n, i) => ((res[i]?.[1] as number) === 1 ? live : dead).push(n));
    return { live, dead };
  }

  /** Frees the names and records of a dead node; one survivor does it, the others find it done. */
  private async reap(node: string): Promise<void> {
    const lock = await this.cmd.set(this.key('reap', node), this.nodeId, 'PX', 60000, 'NX');
    if (lock !== 'OK') return;
    const users = await this.cmd.hkeys(this.key('node', node, 'users'));
    const tx = this.cmd.multi();
    for (const id of users) tx.hdel(this.key('user', id), node);
    tx.del(this.key('node', node, 'users')).srem(this.key('nodes'), node);
    await tx.exec();
    this.opts.log.warn({ node, users: users.length }, 'node stopped heartbeating: its users are offline');
  }

  async claim(record: PresenceRecord, exclusive: boolean): Promise<boolean> {
    if (!this.connected) return true;
    try {
      const id = record.user.id;
      const ok = await this.cmd.eval(CLAIM, 2, this.key('user', id), this.key('node', this.nodeId, 'users'),
        this.nodeId, JSON.stringify(record), exclusive ? '1' : '0', id, this.opts.prefix);
      return ok === 1;
    } catch (err) {
      this.warn(err, 'name claim failed; allowing the login');
      return true;
    }
  }

  update(record: PresenceRecord): void {
    if (!this.connected) return;
    this.cmd.hset(this.key('node', this.nodeId, 'users'), record.user.id, JSON.stringify(record)).catch((err: unknown) => this.warn(err, 'presence update failed'));
  }

  release(userId: string): void {
    if (!this.connected) return;
    this.cmd.multi()
      .hdel(this.key('user', userId), this.nodeId)
      .hdel(this.key('node', this.nodeId, 'users'), userId)
      .exec()
      .catch((err: unknown) => this.warn(err, 'presence release failed'));
  }

  async snapshot(): Promise<Map<string, PresenceRecord[]>> {
    const out = new Map<string, PresenceRecord[]>();
    const { live } = await this.liveNodes();
    const pipe = this.cmd.pipeline();
    for (const n of live) pipe.hvals(this.key('node', n, 'users'));
    const res = (await pipe.exec()) ?? [];
    live.forEach((n, i) => {
      const vals = (res[i]?.[1] as string[] | undefined) ?? [];
      out.set(n, vals.map((v) => JSON.parse(v) as PresenceRecord));
      this.known.add(n);
    });
    return out;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    if (this.connected) {
      try {
        const users = await this.cmd.hkeys(this.key('node', this.nodeId, 'users'));
        const tx = this.cmd.multi();
        for (const id of users) tx.hdel(this.key('user', id), this.nodeId);
        tx.del(this.key('node', this.nodeId, 'users'), this.key('node', this.nodeId, 'alive')).srem(this.key('nodes'), this.nodeId);
        await tx.exec();
        await this.cmd.publish(this.key('bus'), JSON.stringify({ node: this.nodeId, event: { k: 'node-down' } } satisfies BusEnvelope));
      } catch (err) {
        this.warn(err, 'could not remove this node from Redis');
      }
    }
    this.sub.disconnect();
    this.cmd.disconnect();
  }
}
