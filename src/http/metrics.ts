/**
 * `GET /metrics` in the Prometheus text format (prom-client), one registry
 * per server so that several servers in one process (tests) never share or
 * clash over metric names.
 *
 * The chat core counts in plain numbers (src/core/stats.ts); every metric
 * here reads them in its `collect`, which prom-client calls on each scrape.
 * So the hot path never touches prom-client, and a scrape costs a few
 * dozen reads plus one walk over the Comet sessions. The one exception is
 * the store latency histogram, observed once per stored message (not per
 * frame of its fan-out).
 *
 * Access: like /healthz, /metrics answers without credentials: it holds
 * counts only, and every label value comes from a fixed set (transports,
 * commands, error codes), never a user, room or address. Keep it off the
 * public side of the proxy, or turn it off with `--no-metrics`. When an
 * admin token is configured a scraper may present it; a request that
 * presents another gets 401, so that a rotated token shows up as a failing
 * scrape instead of going unnoticed.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ChatStats } from '../core/stats.js';
import { ErrorCodes } from '../errors.js';
import type { HookStats } from '../hooks/caller.js';
import { bearerMatches } from './bearer.js';
import { registerHookMetrics } from './hook-metrics.js';

export interface MetricsSources {
  stats: ChatStats;
  heldPolls(): number;
  onlineUsers(): number;
  rooms(): number;
  /** Channels the node keeps in offset order (several nodes); 0 on one node. */
  orderedChannels(): number;
  /** What the backend hooks count. */
  hooks?: HookStats;
}

export interface MetricsOptions {
  registry: Registry;
  adminToken: string;
}

/** Group commits take from well under a millisecond (memory, idle SQLite) to tens of ms (fsync on a busy disk). */
const APPEND_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Builds the registry of one server and hooks the store latency histogram into its stats. */
export function createMetrics(src: MetricsSources): Registry {
  const registry = new Registry();
  const registers = [registry];
  const { stats } = src;

  new Gauge({
    name: 'webim_connections',
    help: 'Open connections by transport (a Comet or SockJS session counts as one)',
    labelNames: ['transport'] as const,
    registers,
    collect() {
      for (const [transport, n] of Object.entries(stats.connections)) this.set({ transport }, n);
    },
  });
  new Gauge({ name: 'webim_online_users', help: 'Users logged in now', registers, collect() { this.set(src.onlineUsers()); } });
  new Gauge({ name: 'webim_rooms', help: 'Rooms that exist', registers, collect() { this.set(src.rooms()); } });
  new Gauge({
    name: 'webim_ordered_channels',
    help: 'Channels this node keeps in offset order: its rooms and the private conversations of its online users (0 on one node)',
    registers,
    collect() {
      this.set(src.orderedChannels());
    },
  });
  new Gauge({
    name: 'webim_comet_held_polls',
    help: 'Comet long-polls held open now, waiting for frames',
    registers,
    collect() {
      this.set(src.heldPolls());
    },
  });
  new Counter({
    name: 'webim_logins_total',
    help: 'Logins answered with login',
    registers,
    collect() {
      this.reset();
      this.inc(stats.logins);
    },
  });
  new Counter({
    name: 'webim_messages_in_total',
    help: 'Client messages taken in, by cmd (unknown: a cmd the protocol lacks; invalid: not JSON or not a command object)',
    labelNames: ['cmd'] as const,
    registers,
    collect() {
      this.reset();
      for (const [cmd, cell] of stats.messagesIn) this.inc({ cmd }, cell.n);
    },
  });
  new Counter({
    name: 'webim_frames_out_total',
    help: 'Frames sent to clients (every server message, bye included)',
    registers,
    collect() {
      this.reset();
      this.inc(stats.framesOut);
    },
  });
  new Counter({
    name: 'webim_errors_total',
    help: 'error frames sent to clients, by code',
    labelNames: ['code'] as const,
    registers,
    collect() {
      this.reset();
      for (const [code, cell] of stats.errors) this.inc({ code }, cell.n);
    },
  });
  new Counter({
    name: 'webim_rate_limited_total',
    help: 'Client messages refused by the per-connection rate limit',
    registers,
    collect() {
      this.reset();
      this.inc(stats.rateLimited);
    },
  });
  const append = new Histogram({
    name: 'webim_store_append_seconds',
    help: 'Time from store.append to the commit of the message (the ack waits for it)',
    buckets: APPEND_BUCKETS,
    registers,
  });
  stats.observeAppend = (seconds) => append.observe(seconds);
  new Gauge({
    name: 'webim_bus_lag_seconds',
    help: 'Delay of the cross-node bus: publish to receipt of the last event from another node (clocks of two machines); 0 on one node',
    registers,
    collect() {
      this.set(stats.busLag);
    },
  });
  if (src.hooks) registerHookMetrics(registry, src.hooks);
  // Process CPU, memory, event loop delay, GC: what tells a slow chat server from a busy one.
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** The `/metrics` route; registered only when `--metrics` is on. */
export default async function metricsRoute(app: FastifyInstance, opts: MetricsOptions): Promise<void> {
  app.get('/metrics', async (req, reply) => {
    void reply.header('Cache-Control', 'no-store');
    if (opts.adminToken !== '' && req.headers.authorization !== undefined && !bearerMatches(req.headers.authorization, opts.adminToken)) {
      void reply.header('WWW-Authenticate', 'Bearer realm="webim-metrics"');
      return reply.code(ErrorCodes.unauthorized.status).send({ error: 'unauthorized', message: 'a wrong token; send the admin token or none' });
    }
    return reply.type(opts.registry.contentType).send(await opts.registry.metrics());
  });
}
