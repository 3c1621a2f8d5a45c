/**
 * Builds the webim HTTP server: Fastify with the chat core, its transports,
 * the static page and `/healthz`, and a `close` that shuts down in the
 * order docs/protocol.md asks (503 on /healthz, `bye` to every client, history
 * flushed).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import cometTransport, { type CometCounts } from '../transports/comet.js';
import flashPolicyInline from '../transports/flash-policy-inline.js';
import sockjsTransport from '../transports/sockjs.js';
import websocketTransport from '../transports/websocket.js';
import { TokenService } from './auth/tokens.js';
import serverApi, { checkApiKeys, legacyAdminApi } from './http/api.js';
import clientBundle from './http/client-bundle.js';
import embedScript from './http/embed.js';
import metricsRoute, { createMetrics } from './http/metrics.js';
import polyfills from './http/polyfills.js';
import uploads, { UploadRegistry } from './http/uploads.js';
import type { Config } from './config.js';
import { Admin } from './core/admin.js';
import { ServerApi } from './core/api.js';
import { Hub } from './core/hub.js';
import { originCheck } from './common/origin.js';
import { proxyTrust } from './common/proxy-trust.js';
import { openBus } from './bus/open.js';
import { openStore } from './store/open.js';
import type { HistoryStore } from './store/store.js';

export const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

export interface WebimServer {
  app: FastifyInstance;
  hub: Hub;
  store: HistoryStore;
  config: Config;
  /** Listens on the configured host and port; resolves to the bound address. */
  listen(): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export async function createServer(config: Config, storeOverride?: HistoryStore): Promise<WebimServer> {
  checkApiKeys(config);
  const trust = proxyTrust(config.trustProxy);
  const app = Fastify({
    // req.ip and req.protocol believe X-Forwarded-* from the configured proxies only (SockJS asks `trust` itself).
    trustProxy: trust.fastifyOption,
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    bodyLimit: config.maxMessageSize,
    // Slow clients must send their headers in time (slowloris, docs/protocol.md section 6).
    // Node checks the timeouts every connectionsCheckingInterval ms (30 s by default): check each second so 10 s means 10 s.
    http: { headersTimeout: config.headerTimeout, connectionsCheckingInterval: 1000 },
    // A whole request (headers and body) must arrive in this time; held polls are responses, not requests.
    requestTimeout: Math.max(config.headerTimeout * 3, 30000),
    // Node's 5 s rather than fastify's 72 s: a long-poll client that sent during a held poll leaves a second, idle socket,
    // and holding it 72 s costs every Comet session a socket's memory (BENCHMARKS.md, held long-polls).
    keepAliveTimeout: config.keepAliveTimeout,
    // While closing, Comet clients must still reach their session to take its `bye`; /healthz says 503 itself.
    return503OnClosing: false,
  });
  const store = storeOverride ?? openStore(config.store, { dataDir: config.dataDir, fsync: config.fsync, database: config.database });
  await store.init();
  const tokens = new TokenService({
    secret: config.tokenSecret,
    dataDir: config.dataDir,
    persist: config.store !== 'memory',
    ttlSeconds: config.tokenTtl,
  });
  const registry = new UploadRegistry(resolve(config.dataDir, 'uploads'));
  const hub = new Hub({ config, store, tokens, log: app.log, uploads: registry, bus: openBus(config, app.log) });
  await hub.start();

  let stopping = false;
  app.get('/healthz', async (_req, reply) => {
    if (stopping) return reply.code(503).send({ status: 'stopping' });
    return { status: 'ok', connections: hub.connectionCount, store: store.kind };
  });
  await app.register(websocketTransport, {
    host: hub,
    path: '/ws',
    maxPayload: config.maxMessageSize,
    closeGrace: config.shutdownGrace,
    originAllowed: originCheck(config),
  });
  let cometCounts: CometCounts | undefined;
  await app.register(cometTransport, {
    expose: (counts) => {
      cometCounts = counts;
    },
    prefix: '/comet',
    host: hub,
    pollTimeout: config.pollTimeout,
    sessionTimeout: config.sessionTimeout > 0 ? config.sessionTimeout : 2 * config.pollTimeout,
    maxSessions: config.maxCometSessions,
    maxBody: config.maxMessageSize,
    closeGrace: config.shutdownGrace,
    originAllowed: originCheck(config),
  });
  // After the /ws plugin: sockjs takes over the server's request and upgrade listeners once every plugin is ready.
  await app.register(sockjsTransport, {
    host: hub,
    path: '/sockjs',
    maxMessageSize: config.maxMessageSize,
    heartbeat: config.sockjsHeartbeat,
    disconnectDelay: config.sockjsDisconnectDelay,
    responseLimit: config.sockjsResponseLimit,
    closeGrace: config.shutdownGrace,
    publicUrl: config.publicUrl,
    allowedOrigins: config.allowedOrigins,
    originAllowed: originCheck(config),
    trust,
  });
  await app.register(polyfills);
  await app.register(uploads, {
    dir: registry.dir,
    maxBytes: config.uploadMaxBytes,
    thumbSize: config.thumbnailSize,
    tokens,
    originAllowed: originCheck(config),
  });
  if (config.metrics) {
    const registry = createMetrics({
      stats: hub.stats,
      heldPolls: () => cometCounts?.heldPolls() ?? 0,
      onlineUsers: () => hub.dir.users.size,
      rooms: () => hub.dir.rooms.size,
      orderedChannels: () => hub.cluster.sequencer?.size ?? 0,
      hooks: hub.hooks.stats,
    });
    await app.register(metricsRoute, { registry, adminToken: config.adminToken });
  }
  // The server API (docs/api.md), and its admin routes under their first prefix too. Registered even
  // without a key, so that /api/* answers its own 404 (the API is off).
  const api = { admin: new Admin(hub.parts), api: new ServerApi(hub.parts), apiKey: config.apiKey, adminToken: config.adminToken };
  await app.register(serverApi, { prefix: '/api', ...api });
  await app.register(legacyAdminApi, { prefix: '/admin/api', ...api });
  // /webim.js is built from public/webim/*.js; registered before the static files.
  await app.register(clientBundle);
  await app.register(embedScript, { publicDir: PUBLIC_DIR });
  await app.register(fastifyStatic, { root: PUBLIC_DIR, index: ['index.html'] });
  if (config.flashPolicyInline) {
    // docs/protocol.md section 5: a connection whose first byte is `<` gets the Flash socket policy instead of HTTP.
    await app.register(flashPolicyInline, {
      domains: config.flashAllowDomains,
      ports: config.flashAllowPorts,
      firstByteTimeout: config.headerTimeout,
    });
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopping = true;
      hub.shutdown();
      hub.hooks.close();
      // Each transport waits (up to shutdownGrace) for its `bye` frames to reach clients.
      await app.close();
      // After the transports: the users' offline presence has gone out; then this node's records leave Redis.
      await hub.cluster.close();
      await store.close();
    })();
    return closing;
  };

  return {
    app,
    hub,
    store,
    config,
    async listen() {
      await app.listen({ port: config.port, host: config.host });
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new Error('server is not listening on TCP');
      return { host: addr.address, port: addr.port };
    },
    close,
  };
}
