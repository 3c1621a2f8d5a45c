/**
 * Every setting of `webim start`, in one table: the flag, its environment
 * fallback (`WEBIM_` + the flag in upper snake case, PROTOCOL.md section 8),
 * its default and its help text. The README's configuration table is
 * generated from this table (`node dist/bin/webim.js help --markdown`) and a
 * test checks that the two agree.
 */

type Kind = 'int' | 'string' | 'bool' | 'list' | 'enum';

export interface SettingDef<T> {
  flag: string;
  kind: Kind;
  def: T;
  help: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

function int(flag: string, def: number, help: string, min = 0, max = Number.MAX_SAFE_INTEGER): SettingDef<number> {
  return { flag, kind: 'int', def, help, min, max };
}
function str(flag: string, def: string, help: string): SettingDef<string> {
  return { flag, kind: 'string', def, help };
}
function bool(flag: string, def: boolean, help: string): SettingDef<boolean> {
  return { flag, kind: 'bool', def, help };
}
function list(flag: string, help: string): SettingDef<string[]> {
  return { flag, kind: 'list', def: [], help };
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
  allowedOrigins: list('allowed-origins', 'comma-separated browser origins allowed to connect; default: the server\'s own origin'),
  publicUrl: str('public-url', '', 'the URL users reach the server at, when it sits behind a proxy (for the default origin check)'),
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
  headerTimeout: int('header-timeout', 10000, 'ms a client has to send complete HTTP request headers', 100),
  replayLimit: int('replay-limit', 200, 'messages per channel replayed on resume before `recovered: false`', 1),
  joinHistory: int('join-history', 50, 'recent messages sent with `joined`', 0, 100),
  allowRoomCreate: bool('allow-room-create', true, 'whether `join` of an unknown room creates it'),
  tokenSecret: str('token-secret', '', 'secret that signs login tokens; default: a random one kept in the data directory'),
  tokenTtl: int('token-ttl', 2592000, 'seconds a login token stays valid', 60),
  logLevel: choice('log-level', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'log level (pino)'),
  shutdownGrace: int('shutdown-grace', 2000, 'ms SIGTERM waits for clients to receive `bye` before closing', 0),
} as const;

type Settings = typeof settings;
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
  const byFlag = new Map<string, [keyof Settings, SettingDef<unknown>]>();
  for (const key of Object.keys(settings) as (keyof Settings)[]) {
    byFlag.set(settings[key].flag, [key, settings[key]]);
  }
  const fromFlags = new Map<keyof Settings, unknown>();
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
      out[key] = raw !== undefined && raw !== '' ? convert(def, raw, envName(def.flag)) : def.def;
    }
  }
  return out as Config;
}

/** The defaults, with overrides: what tests and embedders start from. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...parseConfig([], {}), ...overrides };
}

function defaultText(def: SettingDef<unknown>): string {
  if (def.kind === 'list') return '(own origin)';
  if (def.kind === 'string' && def.def === '') return '(none)';
  return String(def.def);
}

/** The README's configuration table, generated so that it cannot drift from the code. */
export function settingsMarkdown(): string {
  const rows = ['| flag | environment | default | meaning |', '|---|---|---|---|'];
  for (const def of Object.values(settings) as SettingDef<unknown>[]) {
    rows.push(`| \`--${def.flag}\` | \`${envName(def.flag)}\` | \`${defaultText(def)}\` | ${def.help} |`);
  }
  return rows.join('\n');
}
