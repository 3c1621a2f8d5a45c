/**
 * `webim nginx-config`: the nginx configuration that runs webim behind
 * nginx, printed for the operator's host names and nodes. Its settings sit
 * in a table of their own (flags, `WEBIM_` environment fallbacks and help
 * from src/config.ts); the timing and size flags are the very settings of
 * `webim start`, so the same environment gives timeouts and body limits
 * that match the nodes. deploy/nginx/webim.conf is its output for the
 * arguments in that file's header, and a test keeps the two equal.
 *
 * Why the routing is what it is (docs/deploy.md, "Routing several nodes"):
 * - SockJS sessions: sockjs-client picks the session id and puts it in
 *   every URL of the session (`/sockjs/<server>/<session>/<transport>`),
 *   so hashing on it sends each request of a session to one node, its
 *   first one included, whatever the client's address.
 * - Comet sessions: `/comet/open` carries no sid yet and the node that
 *   answers it picks one at random, so no hash of the sid can find that
 *   node again. The key every request of the session shares is the client
 *   address: hashed on its /24 for IPv4, as ip_hash does, so that a client
 *   behind a pool of proxies in one network stays on one node too, and
 *   consistently, so that adding a node moves few clients. A client that
 *   moves anyway (a new network, a removed node) gets `unknown_session`,
 *   opens a new session and resumes (docs/protocol.md 3.3): nothing is lost.
 * - WebSocket and everything else: one request or connection at a time,
 *   so any node (least connections: WebSockets live long).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, int, list, parseSettings, settings, type SettingValues, str } from './config.js';

const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const SERVER_NAME = /^[A-Za-z0-9*_.-]+$/;
const LISTEN = /^(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}$/;
/** Body bytes beyond the limits themselves: multipart framing and the few form fields of an upload. */
const BODY_SLACK = 65536;

/** The package's public/ directory, where nginx finds the page (dist/src/ is two levels below the package). */
export const PACKAGE_PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

function portOk(hostPort: string): boolean {
  const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
  return port >= 1 && port <= 65535;
}

export const nginxSettings = {
  serverName: {
    ...list('server-name', 'host names users reach the chat at (nginx `server_name`), comma-separated', { shownDefault: '(required)' }),
    check: (names: string[]) => {
      const bad = names.find((name) => !SERVER_NAME.test(name));
      return bad === undefined ? undefined : `not a host name: "${bad}"`;
    },
  },
  upstream: list('upstream', 'comma-separated `host:port` of the webim nodes', {
    def: ['127.0.0.1:8080'],
    shownDefault: '127.0.0.1:8080',
    check: (nodes) => {
      if (nodes.length === 0) return 'needs at least one host:port';
      const bad = nodes.find((n) => !HOST_PORT.test(n) || !portOk(n));
      return bad === undefined ? undefined : `not a host:port: "${bad}"`;
    },
  }),
  listen: {
    ...str('listen', '80', 'what nginx listens on: a port or `address:port` (add TLS to the printed block, see docs/deploy.md)'),
    check: (l: string) => (LISTEN.test(l) && portOk(`:${l.slice(l.lastIndexOf(':') + 1)}`) ? undefined : `not a port or address:port: "${l}"`),
  },
  root: {
    ...str('root', '', "directory of the static files nginx serves itself; default: the installed package's `public/`"),
    shownDefault: '(package public/)',
    check: (r: string) => (/["'\\$;{}\s]/.test(r) ? 'the path may not hold quotes, backslashes, $, ;, braces or white space' : undefined),
  },
  name: {
    ...str('name', 'webim', 'prefix of the upstream and variable names, so that two sites can share one nginx'),
    check: (n: string) => (/^[a-z][a-z0-9_]{0,31}$/.test(n) ? undefined : 'use lower-case letters, digits and _'),
  },
  readTimeout: int('read-timeout', 0, 'seconds nginx waits for a node to say something; 0: three times the longest quiet time of a node (poll timeout, heartbeats)', 0, 86400),
  pollTimeout: settings.pollTimeout,
  heartbeatInterval: settings.heartbeatInterval,
  sockjsHeartbeat: settings.sockjsHeartbeat,
  maxMessageSize: settings.maxMessageSize,
  uploadMaxBytes: settings.uploadMaxBytes,
  keepAliveTimeout: settings.keepAliveTimeout,
} as const;

export type NginxOptions = SettingValues<typeof nginxSettings>;

/** Flags first, then the environment, then the defaults; a bad or missing value throws ConfigError. */
export function parseNginxConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): NginxOptions {
  const opts = parseSettings(nginxSettings, argv, env);
  if (opts.serverName.length === 0) throw new ConfigError('--server-name is required (the host name users reach the chat at)');
  return opts;
}

/** Seconds: long enough that no held poll, stream or idle WebSocket of a node is cut by nginx. */
export function readTimeoutOf(o: Pick<NginxOptions, 'readTimeout' | 'pollTimeout' | 'heartbeatInterval' | 'sockjsHeartbeat'>): number {
  if (o.readTimeout > 0) return o.readTimeout;
  // The longest a node may stay silent on a healthy connection, three times over: a late timer or a slow
  // client costs nothing, and a dead node is still noticed within minutes.
  const quiet = Math.max(o.pollTimeout, o.heartbeatInterval, o.sockjsHeartbeat);
  return Math.ceil((3 * quiet) / 1000);
}

/**
 * Milliseconds nginx keeps an idle upstream connection: below the node's own keep-alive timeout, so that nginx never sends
 * a request on a connection the node is closing at that moment (a POST is not retried: the client would get a 502).
 */
export function upstreamIdleOf(o: Pick<NginxOptions, 'keepAliveTimeout'>): number {
  return Math.max(Math.floor(o.keepAliveTimeout / 2), o.keepAliveTimeout - 1000);
}

/** KiB nginx lets a request body have: every body a node takes (uploads are the largest), with room for multipart framing. */
export function bodyLimitOf(o: Pick<NginxOptions, 'uploadMaxBytes' | 'maxMessageSize'>): number {
  return Math.ceil((Math.max(o.uploadMaxBytes, o.maxMessageSize) + BODY_SLACK) / 1024);
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The headers every proxied request carries: the client's own view (host, scheme, address), never the client's claims. */
function proxyHeaders(upgrade: boolean, name: string): string[] {
  return [
    `proxy_set_header Host $${name}_host;`,
    // Overwritten, not appended to: a node trusting this nginx must not believe what the client wrote.
    'proxy_set_header X-Forwarded-For $remote_addr;',
    'proxy_set_header X-Real-IP $remote_addr;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    `proxy_set_header X-Forwarded-Host $${name}_host;`,
    'proxy_set_header Upgrade ' + (upgrade ? '$http_upgrade;' : '"";'),
    'proxy_set_header Connection ' + (upgrade ? `$${name}_connection_upgrade;` : '"";'),
  ];
}

function block(head: string, body: string[], indent = '    '): string[] {
  return [`${indent}${head} {`, ...body.map((l) => (l === '' ? '' : `${indent}    ${l}`)), `${indent}}`];
}

/** The configuration text: maps and upstreams, then the server block, all for nginx's http context. */
export function nginxConfig(o: NginxOptions, argv: readonly string[]): string {
  const n = o.name;
  const root = resolve(o.root === '' ? PACKAGE_PUBLIC_DIR : o.root).replace(/\/+$/, '');
  const readTimeout = readTimeoutOf(o);
  const servers = o.upstream.map((u) => `server ${u};`);
  const keepaliveTimeout = `keepalive_timeout ${upstreamIdleOf(o)}ms;`;
  const streaming = ['proxy_buffering off;', '# The node reads and caps bodies itself; passing them on at once keeps the order overlapping sends arrived in.', 'proxy_request_buffering off;', '# Compressing would hold back what a stream or poll must deliver now.', 'gzip off;'];
  const staticFiles = ['add_header X-Content-Type-Options nosniff;', 'charset utf-8;', 'charset_types text/css application/javascript image/svg+xml;'];
  const lines = [
    `# webim behind nginx, generated by \`webim nginx-config\` with:`,
    `#   ${['webim nginx-config', ...argv.map(shellQuote)].join(' ')}`,
    `# read timeout ${readTimeout} s (from --poll-timeout ${o.pollTimeout}, --heartbeat-interval ${o.heartbeatInterval}, --sockjs-heartbeat ${o.sockjsHeartbeat} ms);`,
    `# bodies up to ${bodyLimitOf(o)} KiB (--upload-max-bytes ${o.uploadMaxBytes}, --max-message-size ${o.maxMessageSize});`,
    `# idle upstream connections closed after ${upstreamIdleOf(o)} ms (below --keep-alive-timeout ${o.keepAliveTimeout}).`,
    '#',
    '# Goes in nginx\'s http context, e.g. as /etc/nginx/conf.d/webim.conf (the stock nginx.conf includes',
    '# conf.d/*.conf inside http {}). Start every node with --trust-proxy set to the address this nginx',
    '# connects to it from (127.0.0.1 when they share a machine): per-IP limits then count clients, not nginx.',
    '',
    '# WebSocket upgrades pass through; any other request keeps its upstream connection reusable.',
    ...block(`map $http_upgrade $${n}_connection_upgrade`, ['default upgrade;', "''      \"\";"], ''),
    '',
    '# The Host the browser sent, port included (the origin check compares it with Origin); $host for a client that sent none.',
    ...block(`map $http_host $${n}_host`, ["''      $host;", 'default $http_host;'], ''),
    '',
    '# Comet routing key: the client\'s IPv4 /24 (as ip_hash), or its whole IPv6 address.',
    ...block(`map $remote_addr $${n}_client`, ['~^(\\d+\\.\\d+\\.\\d+)\\.\\d+$ $1;', 'default $remote_addr;'], ''),
    '',
    '# SockJS routing key: the session id in /sockjs/<server>/<session>/<transport>; requests outside a session go anywhere.',
    ...block(`map $uri $${n}_sockjs_session`, ['~^/sockjs/[^/.]+/([^/.]+)/[a-z_]+/?$ $1;', 'default $request_id;'], ''),
    '',
    '# WebSocket and plain requests: any node.',
    ...block(`upstream ${n}_nodes`, ['least_conn;', ...servers, 'keepalive 32;', keepaliveTimeout], ''),
    '',
    '# Comet: /comet/open has no sid yet, so every request of a session is routed by the client\'s address.',
    ...block(`upstream ${n}_by_client`, [`hash $${n}_client consistent;`, ...servers, 'keepalive 32;', keepaliveTimeout], ''),
    '',
    '# SockJS: every request of a session reaches the node that holds it.',
    ...block(`upstream ${n}_by_session`, [`hash $${n}_sockjs_session consistent;`, ...servers, 'keepalive 32;', keepaliveTimeout], ''),
    '',
    ...block('server', [
      `listen ${o.listen};`,
      `server_name ${o.serverName.join(' ')};`,
      `root ${root};`,
      '',
      '# Every body a node takes; each node refuses what is over its own limits with its own answer.',
      `client_max_body_size ${bodyLimitOf(o)}k;`,
      'proxy_http_version 1.1;',
      '# Above the longest silence of a healthy connection: held polls, SockJS and WebSocket heartbeats.',
      `proxy_read_timeout ${readTimeout}s;`,
      `proxy_send_timeout ${readTimeout}s;`,
      'proxy_connect_timeout 5s;',
      'gzip on;',
      'gzip_vary on;',
      'gzip_types text/css application/javascript image/svg+xml application/json;',
      '# Types of the files served from root, whatever the http context includes.',
      ...block('types', ['text/html html;', 'text/css css;', 'application/javascript js;', 'application/json json map;', 'image/svg+xml svg;', 'image/png png;', 'image/x-icon ico;'], ''),
      '',
      '# The page, its scripts and the avatars come from root. Their names carry no version: browsers',
      '# revalidate the page and scripts (a 304 when unchanged), so a new release is seen at once.',
      ...block('location = /', ['index index.html;'], ''),
      ...block('location = /index.html', ['add_header Cache-Control "no-cache";', ...staticFiles], ''),
      ...block('location ~ ^/[^/]+\\.(?:js|css)$', ['add_header Cache-Control "no-cache";', ...staticFiles, `try_files $uri @${n};`], ''),
      ...block('location ^~ /avatars/', ['add_header Cache-Control "public, max-age=604800";', ...staticFiles], ''),
      '',
      ...block('location = /ws', [`proxy_pass http://${n}_nodes;`, ...proxyHeaders(true, n)], ''),
      ...block('location ^~ /comet/', [`proxy_pass http://${n}_by_client;`, ...proxyHeaders(false, n), ...streaming], ''),
      ...block('location ~ ^/sockjs(?:/|$)', [`proxy_pass http://${n}_by_session;`, ...proxyHeaders(true, n), ...streaming], ''),
      '# Prometheus scrapes each node on its own port, not through the public side.',
      ...block('location = /metrics', ['deny all;'], ''),
      '# Everything else (uploads, polyfills, /healthz, the admin API) is the nodes\'.',
      ...block('location /', [`proxy_pass http://${n}_nodes;`, ...proxyHeaders(false, n)], ''),
      ...block(`location @${n}`, [`proxy_pass http://${n}_nodes;`, ...proxyHeaders(false, n)], ''),
    ], ''),
  ];
  return lines.join('\n') + '\n';
}
