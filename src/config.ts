/**
 * Every setting of `webim start`, in one table: the flag, its environment
 * fallback (`WEBIM_` + the flag in upper snake case, docs/protocol.md section 8),
 * its default and its help text. The configuration table of docs/configuration.md is
 * generated from this table (`node dist/bin/webim.js help --markdown`) and a
 * test checks that the two agree.
 */

import { domainsProblem, portsProblem } from './common/flash-policy.js';
import { trustProblem } from './common/proxy-trust.js';

type Kind = 'int' | 'string' | 'bool' | 'list' | 'enum';

export interface SettingDef<T> {
  flag: string;
  kind: Kind;
  def: T;
  help: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** How the default reads in help and docs/configuration.md, where the value itself would not say it. */
  shownDefault?: string;
  /** A problem with a parsed value beyond its kind, or undefined (method syntax: checked per setting, not variance). */
  check?(value: T): string | undefined;
}

export function int(flag: string, def: number, help: string, min = 0, max = Number.MAX_SAFE_INTEGER): SettingDef<number> {
  return { flag, kind: 'int', def, help, min, max };
}
export function str(flag: string, def: string, help: string): SettingDef<string> {
  return { flag, kind: 'string', def, help };
}
export function bool(flag: string, def: boolean, help: string): SettingDef<boolean> {
  return { flag, kind: 'bool', def, help };
}
export function list(
  flag: string,
  help: string,
  extra: Partial<Pick<SettingDef<string[]>, 'def' | 'shownDefault' | 'check'>> = {},
): SettingDef<string[]> {
  return { flag, kind: 'list', def: [], help, ...extra };
}
function choice<C extends string>(flag: string, def: C, choices: readonly C[], help: string): SettingDef<C> {
  return { flag, kind: 'enum', def, help, choices };
}

export const settings = {
  port: int('port', 8080, 'HTTP port of the chat server', 0, 65535),
  host: str('host', '0.0.0.0', 'address to listen on'),
  dataDir: str('data-dir', './data', 'directory of the embedded store and the token secret'),
  store: choice('store', 'sqlite', ['sqlite', 'memory'] as const, 'history store: `sqlite` (embedded, durable) or `memory` (lost on restart)'),
  fsync: bool('fsync', false, 'SQLite `synchronous=FULL`: acked messages survive power loss too, not only a killed process'),
  database: str('database', '', 'PostgreSQL URL of a history store several nodes share (`postgres://user@host:5432/webim`; a password is better in `PGPASSWORD`); when set, history is kept there whatever `--store` says'),
  allowedOrigins: list('allowed-origins', 'comma-separated browser origins allowed to connect; default: the server\'s own origin'),
  publicUrl: str('public-url', '', 'the URL users reach the server at, when it sits behind a proxy (for the default origin check)'),
  trustProxy: list('trust-proxy', 'comma-separated addresses or CIDR ranges of reverse proxies (`127.0.0.1`, `10.0.0.0/8`, `loopback`) whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed, for per-IP limits and the origin check', {
    shownDefault: '(none)',
    check: trustProblem,
  }),
  maxConnectionsPerIp: int('max-connections-per-ip', 200, 'open connections (and Comet sessions) one address may hold', 1),
  maxMessageSize: int('max-message-size', 65536, 'bytes in one WebSocket/SockJS message or Comet request body', 1024),
  maxTextLength: int('max-text-length', 4096, 'characters in a text message body', 1),
  rateLimit: int('rate-limit', 20, 'messages per second a connection may send (all but `ping`)', 1),
  rateBurst: int('rate-burst', 40, 'burst size of the per-connection rate limit', 1),
  sendBufferLimit: int('send-buffer-limit', 1048576, 'bytes queued to a slow client before it is cut off', 1024),
  heartbeatInterval: int('heartbeat-interval', 25000, 'ms between WebSocket pings', 100),
  heartbeatTimeout: int('heartbeat-timeout', 20000, 'ms to wait for a pong before the connection is dropped', 100),
  pollTimeout: int('poll-timeout', 25000, 'ms a Comet long-poll is held open (keep it below proxy read timeouts, usually 60 s)', 100, 55000),
  sessionTimeout: int('session-timeout', 0, 'ms without a poll after which a Comet session ends; 0: twice the poll timeout', 0),
  maxCometSessions: int('max-comet-sessions', 100000, 'Comet sessions kept at once (least recently used beyond it end)', 1),
  sockjsHeartbeat: int('sockjs-heartbeat', 25000, 'ms between SockJS heartbeats (an `h` frame, or a ping on its WebSocket transport)', 100),
  sockjsDisconnectDelay: int('sockjs-disconnect-delay', 5000, 'ms a SockJS session outlives its last open request (between polls) before it ends', 100),
  sockjsResponseLimit: int('sockjs-response-limit', 131072, 'bytes one SockJS streaming response carries before the client must open the next', 1024),
  uploadMaxBytes: int('upload-max-bytes', 5242880, 'bytes an uploaded image may have', 1024),
  thumbnailSize: int('thumbnail-size', 240, 'pixels of the longer side of an image thumbnail', 16, 2048),
  headerTimeout: int('header-timeout', 10000, 'ms a client has to send complete HTTP request headers', 100),
  keepAliveTimeout: int('keep-alive-timeout', 5000, 'ms an idle keep-alive HTTP connection stays open between requests (a proxy that keeps upstream connections must close its idle ones sooner)', 100),
  replayLimit: int('replay-limit', 200, 'messages per channel replayed on resume before `recovered: false`', 1),
  joinHistory: int('join-history', 50, 'recent messages sent with `joined`', 0, 100),
  presenceLimit: int('presence-limit', 1000, 'users online (or online members of a room) up to which every login, logout, status change, join and leave is announced to all; above it those broadcasts stop and the lists in `login`/`joined` are capped (`online` gives the whole list); 0: no limit', 0),
  allowRoomCreate: bool('allow-room-create', true, 'whether `join` of an unknown room creates it'),
  tokenSecret: str('token-secret', '', 'secret that signs login tokens; default: a random one kept in the data directory'),
  tokenTtl: int('token-ttl', 2592000, 'seconds a login token stays valid', 60),
  guestHold: {
    ...int('guest-hold', 0, 'seconds a guest name stays held for its identity after its last use (a token of that identity is then needed to log in with it); once passed, the identity is retired and the name is free for a new guest; 0: as long as `--token-ttl`', 0),
    shownDefault: '0 (= --token-ttl)',
  },
  guestLogin: bool('guest-login', true, 'whether a login without a token (a guest who picks a name) is taken; off: only tokens a host application signed with the secret log in (guests and their reconnect tokens get `unauthorized`)'),
  logLevel: choice('log-level', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'log level (pino)'),
  shutdownGrace: int('shutdown-grace', 2000, 'ms SIGTERM waits for clients to receive `bye` before closing', 0),
  redis: {
    ...str('redis', '', 'Redis URL (`redis://host:6379/0`) of the bus between several nodes: messages, presence and kicks cross through it; empty: a single node'),
    check: (url: string) => (url === '' || /^rediss?:\/\/\S+$/.test(url) ? undefined : 'expected redis://host:port or rediss://...'),
  },
  redisPrefix: {
    ...str('redis-prefix', 'webim', 'prefix of every Redis key and channel of this cluster, so that two clusters can share one Redis'),
    check: (p: string) => (/^[A-Za-z0-9_.-]{1,64}$/.test(p) ? undefined : 'use 1-64 letters, digits, _, . and -'),
  },
  nodeHeartbeat: int('node-heartbeat', 5000, 'ms between a node\'s heartbeats in Redis (and its checks of the other nodes\' heartbeats)', 100),
  nodeTimeout: int('node-timeout', 15000, 'ms after its last heartbeat that a node counts as dead: its users are reported offline, within this plus --node-heartbeat (a guest\'s name stays held for its token: --guest-hold)', 300),
  hookUrl: {
    ...str('hook-url', '', 'URL of the application that answers the backend hooks (login, publish, offline: docs/api.md); each hook may have its own URL below; empty: no hooks'),
    check: httpUrlProblem,
  },
  hookLoginUrl: { ...str('hook-login-url', '', 'URL of the login hook, instead of `--hook-url`'), check: httpUrlProblem },
  hookPublishUrl: { ...str('hook-publish-url', '', 'URL of the publish hook, instead of `--hook-url`'), check: httpUrlProblem },
  hookOfflineUrl: { ...str('hook-offline-url', '', 'URL of the offline hook, instead of `--hook-url`'), check: httpUrlProblem },
  hooks: list('hooks', 'comma-separated hooks that `--hook-url` answers: `login`, `publish`, `offline`', {
    def: ['login', 'publish', 'offline'],
    shownDefault: 'login,publish,offline',
    check: (names: string[]) => names.find((n) => !['login', 'publish', 'offline'].includes(n)) && 'use login, publish and offline',
  }),
  hookSecret: {
    ...str('hook-secret', '', 'secret that signs every hook call (HMAC-SHA256 of the timestamp and body); needed when a hook is on'),
    check: (secret: string) => (secret !== '' && secret.length < 16 ? 'use at least 16 characters (a random string)' : undefined),
  },
  hookTimeout: int('hook-timeout', 3000, 'ms a hook call may take before its failure policy applies', 100, 60000),
  hookLoginFail: choice('hook-login-fail', 'closed', ['closed', 'open'] as const, 'when the login hook fails (timeout, error, garbage): `closed` refuses the login with `server_busy`, `open` lets it go on as a guest login'),
  hookPublishFail: choice('hook-publish-fail', 'open', ['closed', 'open'] as const, 'when the publish hook fails: `open` stores the message as sent, `closed` refuses it with `server_busy` (the client sends it again)'),
  hookPublishOn: list('hook-publish-on', 'comma-separated channel kinds the publish hook is asked about: `room`, `dm`', {
    def: ['room', 'dm'],
    shownDefault: 'room,dm',
    check: (kinds: string[]) => kinds.find((k) => k !== 'room' && k !== 'dm') && 'use room and dm',
  }),
  hookForwardHeaders: list('hook-forward-headers', 'comma-separated request headers of the connection the login hook is shown (the WebSocket upgrade, the Comet session\'s first request)', {
    def: ['cookie'],
    shownDefault: 'cookie',
  }),
  hookOfflineQueue: int('hook-offline-queue', 10000, 'offline events waiting to be sent (retried with backoff); past it the oldest is dropped and counted', 1),
  metrics: bool('metrics', true, 'serve Prometheus metrics at `/metrics` (counts only; keep it off the public side of the proxy)'),
  adminToken: {
    ...str('admin-token', '', 'token of the admin routes of the server API (rooms, members, notices, the users online, kicks; `Authorization: Bearer`), for the admin page: it cannot publish as a user (docs/api.md); empty: only `--api-key` opens them'),
    check: (token: string) => (token !== '' && token.length < 16 ? 'use at least 16 characters (a random string)' : undefined),
  },
  apiKey: {
    ...str('api-key', '', 'key of the host application\'s backend for the whole server API under `/api/` (publish, broadcast, history, presence, disconnect, and the admin routes; `Authorization: Bearer`); keep it on the server, never in a page; empty: only the admin routes, with `--admin-token`'),
    check: (key: string) => (key !== '' && key.length < 16 ? 'use at least 16 characters (a random string)' : undefined),
  },
  flashPolicyInline: bool('flash-policy-inline', true, 'answer a Flash socket policy request (a connection whose first byte is `<`) on the HTTP port'),
  flashAllowDomains: list('flash-allow-domains', 'comma-separated domains (host patterns such as `*.example.com`) the inline Flash policy allows', {
    def: ['*'],
    shownDefault: '*',
    check: domainsProblem,
  }),
  flashAllowPorts: list('flash-allow-ports', 'comma-separated ports or ranges (`8080-8090`) the inline Flash policy allows; default: the server\'s own port', {
    shownDefault: '(own port)',
    check: portsProblem,
  }),
} as const;

/** An http(s) URL, or empty. */
function httpUrlProblem(url: string): string | undefined {
  return url === '' || /^https?:\/\/\S+$/.test(url) ? undefined : 'expected http://host/path or https://...';
}

type Settings = typeof settings;
/** A table of settings such as `settings`; `webim flash-policy` has its own (src/flash-config.ts). */
export type SettingTable = Readonly<Record<string, SettingDef<unknown>>>;
export type SettingValues<S extends SettingTable> = { -readonly [K in keyof S]: S[K]['def'] };
export type Config = { -readonly [K in keyof Settings]: Settings[K]['def'] };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function envName(flag: string): string {
  return 'WEBIM_' + flag.toUpperCase().replace(/-/g, '_');
}

function convert(def: SettingDef<unknown>, raw: string, source: string): unknown {
  const value = convertKind(def, raw, source);
  const problem = def.check?.(value);
  if (problem !== undefined) throw new ConfigError(`${source}: ${problem}`);
  return value;
}

function convertKind(def: SettingDef<unknown>, raw: string, source: string): unknown {
  switch (def.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${source}: expected a whole number, got "${raw}"`);
      const n = Number(raw);
      if (n < (def.min ?? 0) || n > (def.max ?? Number.MAX_SAFE_INTEGER)) {
        throw new ConfigError(`${source}: ${n} is outside ${def.min}..${def.max}`);
      }
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new ConfigError(`${source}: expected true or false, got "${raw}"`);
    }
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    case 'enum':
      if (!def.choices?.includes(raw)) throw new ConfigError(`${source}: expected one of ${def.choices?.join(', ')}, got "${raw}"`);
      return raw;
    case 'string':
      return raw;
  }
}

/** Flags first, then the environment, then the defaults. Unknown flags are an error, not ignored. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  return parseSettings(settings, argv, env);
}

/** parseConfig for any settings table. */
export function parseSettings<S extends SettingTable>(table: S, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): SettingValues<S> {
  const byFlag = new Map<string, [string, SettingDef<unknown>]>();
  for (const [key, def] of Object.entries(table)) byFlag.set(def.flag, [key, def]);
  const fromFlags = new Map<string, unknown>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const m = /^--(no-)?([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new ConfigError(`unexpected argument "${arg}"`);
    const [, negated, name, inline] = m as unknown as [string, string | undefined, string, string | undefined];
    const entry = byFlag.get(name);
    if (!entry) throw new ConfigError(`unknown flag --${name}`);
    const [key, def] = entry;
    if (def.kind === 'bool' && inline === undefined) {
      fromFlags.set(key, negated === undefined);
      continue;
    }
    if (negated !== undefined) throw new ConfigError(`--no-${name} only applies to on/off flags`);
    let raw = inline;
    if (raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new ConfigError(`--${name} needs a value`);
    }
    fromFlags.set(key, convert(def, raw, `--${name}`));
  }
  const out: Record<string, unknown> = {};
  for (const [key, def] of byFlag.values()) {
    if (fromFlags.has(key)) out[key] = fromFlags.get(key);
    else {
      const raw = env[envName(def.flag)];
      // Lists are copied so that no caller can change the shared default.
      const fallback = Array.isArray(def.def) ? [...(def.def as unknown[])] : def.def;
      out[key] = raw !== undefined && raw !== '' ? convert(def, raw, envName(def.flag)) : fallback;
    }
  }
  return out as SettingValues<S>;
}

/** The defaults, with overrides: what tests and embedders start from. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...parseConfig([], {}), ...overrides };
}

function defaultText(def: SettingDef<unknown>): string {
  if (def.shownDefault !== undefined) return def.shownDefault;
  if (def.kind === 'list') return '(own origin)';
  if (def.kind === 'string' && def.def === '') return '(none)';
  return String(def.def);
}

/** The configuration table of docs/configuration.md, generated so that it cannot drift from the code. */
export function settingsMarkdown(table: SettingTable = settings): string {
  const rows = ['| flag | environment | default | meaning |', '|---|---|---|---|'];
  for (const def of Object.values(table)) {
    rows.push(`| \`--${def.flag}\` | \`${envName(def.flag)}\` | \`${defaultText(def)}\` | ${def.help} |`);
  }
  return rows.join('\n');
}
