import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { ConfigError, defaultConfig, envName, parseConfig, settings, settingsMarkdown } from '../src/config.js';

/** The error a call throws, or undefined when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

function configError(tt: Test, fn: () => unknown, what: string): void {
  const err = thrown(fn);
  tt.ok(err instanceof ConfigError, `${what}: throws ConfigError`);
}

t.test('defaults match docs/protocol.md sections 6 and 8', async (tt) => {
  const c = parseConfig([], {});
  tt.equal(c.port, 8080);
  tt.equal(c.host, '0.0.0.0');
  tt.equal(c.dataDir, './data');
  tt.same(c.allowedOrigins, []);
  tt.equal(c.maxConnectionsPerIp, 200);
  tt.equal(c.maxMessageSize, 64 * 1024);
  tt.equal(c.maxTextLength, 4096);
  tt.equal(c.rateLimit, 20);
  tt.equal(c.rateBurst, 40);
  tt.equal(c.sendBufferLimit, 1024 * 1024);
  tt.equal(c.pollTimeout, 25000);
  tt.equal(c.headerTimeout, 10000);
  tt.equal(c.heartbeatInterval, 25000);
  tt.equal(c.heartbeatTimeout, 20000);
  tt.equal(c.allowRoomCreate, true);
  tt.equal(c.tokenSecret, '');
  tt.same(defaultConfig(), c);
});

t.test('--flash-policy-inline is a fixed on/off flag of `webim start`, on by default (docs/protocol.md 8)', async (tt) => {
  const entry = Object.entries(settings).find(([, def]) => def.flag === 'flash-policy-inline');
  tt.ok(entry, 'the setting exists');
  if (!entry) return;
  const [key, def] = entry;
  tt.equal(def.def, true, 'on by default');
  const on = parseConfig([], {}) as unknown as Record<string, unknown>;
  const off = parseConfig(['--no-flash-policy-inline'], {}) as unknown as Record<string, unknown>;
  tt.equal(on[key], true);
  tt.equal(off[key], false);
  tt.equal((parseConfig([], { WEBIM_FLASH_POLICY_INLINE: 'off' }) as unknown as Record<string, unknown>)[key], false);
});

t.test('envName maps a flag to WEBIM_ + upper snake case', async (tt) => {
  tt.equal(envName('max-connections-per-ip'), 'WEBIM_MAX_CONNECTIONS_PER_IP');
  tt.equal(envName('port'), 'WEBIM_PORT');
  tt.equal(envName('data-dir'), 'WEBIM_DATA_DIR');
  tt.equal(envName('allowed-origins'), 'WEBIM_ALLOWED_ORIGINS');
});

t.test('--flag=value and --flag value both work', async (tt) => {
  tt.equal(parseConfig(['--port=9000'], {}).port, 9000);
  tt.equal(parseConfig(['--port', '9001'], {}).port, 9001);
  tt.equal(parseConfig(['--host', '127.0.0.1', '--data-dir=/tmp/x'], {}).host, '127.0.0.1');
  tt.equal(parseConfig(['--data-dir=/tmp/x=y'], {}).dataDir, '/tmp/x=y', 'only the first = splits');
  tt.equal(parseConfig(['--port', '1', '--port', '2'], {}).port, 2, 'the last occurrence wins');
  tt.equal(parseConfig(['--max-connections-per-ip', '7'], {}).maxConnectionsPerIp, 7);
  tt.equal(parseConfig(['--store', 'memory'], {}).store, 'memory');
});

t.test('lists split on commas, trimmed, empty parts dropped', async (tt) => {
  tt.same(parseConfig(['--allowed-origins', 'https://a.example, https://b.example,,'], {}).allowedOrigins, [
    'https://a.example',
    'https://b.example',
  ]);
  tt.same(parseConfig([], { WEBIM_ALLOWED_ORIGINS: '*' }).allowedOrigins, ['*']);
});

t.test('on/off flags: --x, --no-x, --x=value', async (tt) => {
  tt.equal(parseConfig(['--fsync'], {}).fsync, true);
  tt.equal(parseConfig(['--no-allow-room-create'], {}).allowRoomCreate, false);
  tt.equal(parseConfig(['--allow-room-create'], { WEBIM_ALLOW_ROOM_CREATE: 'false' }).allowRoomCreate, true);
  for (const v of ['1', 'true', 'yes', 'on', 'TRUE', ' On ']) tt.equal(parseConfig([`--fsync=${v}`], {}).fsync, true, v);
  for (const v of ['0', 'false', 'no', 'off', 'False']) tt.equal(parseConfig([`--fsync=${v}`], {}).fsync, false, v);
  configError(tt, () => parseConfig(['--fsync=maybe'], {}), 'bad boolean value');
  configError(tt, () => parseConfig(['--no-fsync=true'], {}), '--no-x with a value');
  configError(tt, () => parseConfig(['--no-port'], {}), '--no-x of a flag that is not on/off');
});

t.test('flags win over the environment, the environment over defaults', async (tt) => {
  const env = { WEBIM_PORT: '7000', WEBIM_HOST: '::1', WEBIM_MAX_CONNECTIONS_PER_IP: '3', WEBIM_FSYNC: 'yes' };
  const fromEnv = parseConfig([], env);
  tt.equal(fromEnv.port, 7000);
  tt.equal(fromEnv.host, '::1');
  tt.equal(fromEnv.maxConnectionsPerIp, 3);
  tt.equal(fromEnv.fsync, true);
  const both = parseConfig(['--port=7001', '--no-fsync'], env);
  tt.equal(both.port, 7001);
  tt.equal(both.fsync, false);
  tt.equal(both.host, '::1', 'settings without a flag still come from the environment');
  tt.equal(parseConfig([], { WEBIM_PORT: '' }).port, 8080, 'an empty variable counts as unset');
  tt.equal(parseConfig([], { WEBIM_PORT: ' 42 ' }).port, 42);
  tt.equal(parseConfig([], { PORT: '1', webim_port: '2' }).port, 8080, 'only the exact variable name counts');
  tt.equal(parseConfig(['--port', '5'], { WEBIM_PORT: 'junk' }).port, 5, 'an overridden variable is not read');
});

t.test('bad values and unknown flags throw ConfigError', async (tt) => {
  configError(tt, () => parseConfig(['--nope'], {}), 'unknown flag');
  configError(tt, () => parseConfig(['--nope=1'], {}), 'unknown flag with a value');
  configError(tt, () => parseConfig(['start'], {}), 'positional argument');
  configError(tt, () => parseConfig(['-p', '80'], {}), 'short flag');
  configError(tt, () => parseConfig(['--Port=80'], {}), 'upper case flag');
  configError(tt, () => parseConfig(['--port'], {}), 'missing value');
  configError(tt, () => parseConfig(['--port='], {}), 'empty value');
  configError(tt, () => parseConfig(['--port', 'http'], {}), 'not a number');
  configError(tt, () => parseConfig(['--port', '80.5'], {}), 'not whole');
  configError(tt, () => parseConfig(['--port', '1e3'], {}), 'exponent');
  configError(tt, () => parseConfig(['--port', '0x50'], {}), 'hex');
  configError(tt, () => parseConfig(['--port', '65536'], {}), 'above max');
  configError(tt, () => parseConfig(['--port', '-1'], {}), 'below min');
  configError(tt, () => parseConfig(['--max-connections-per-ip', '0'], {}), 'per-IP cap of 0');
  configError(tt, () => parseConfig(['--rate-limit', '99999999999999999999'], {}), 'beyond safe integers');
  configError(tt, () => parseConfig(['--store', 'postgres'], {}), 'enum outside its choices');
  configError(tt, () => parseConfig(['--log-level', 'INFO'], {}), 'enum is case-sensitive');
  configError(tt, () => parseConfig([], { WEBIM_PORT: 'eighty' }), 'bad environment value');
  configError(tt, () => parseConfig([], { WEBIM_FSYNC: 'sure' }), 'bad environment boolean');
  configError(tt, () => parseConfig([], { WEBIM_STORE: 'redis' }), 'bad environment enum');
  tt.equal(parseConfig(['--port', '0'], {}).port, 0, 'port 0 (any free port) is allowed');
  tt.equal(parseConfig(['--port', '65535'], {}).port, 65535);
});

t.test('defaultConfig applies overrides and leaves the rest at their defaults', async (tt) => {
  const c = defaultConfig({ port: 1234, store: 'memory' });
  tt.equal(c.port, 1234);
  tt.equal(c.store, 'memory');
  tt.equal(c.host, '0.0.0.0');
  const saved = process.env.WEBIM_PORT;
  process.env.WEBIM_PORT = '4321';
  try {
    tt.equal(defaultConfig().port, 8080, 'defaultConfig ignores the environment');
  } finally {
    if (saved === undefined) delete process.env.WEBIM_PORT;
    else process.env.WEBIM_PORT = saved;
  }
});

t.test('settingsMarkdown has one row per setting, with flag, variable and default', async (tt) => {
  const md = settingsMarkdown();
  const lines = md.split('\n');
  const defs = Object.values(settings);
  tt.equal(lines.length, defs.length + 2, 'header, separator and one row each');
  for (const def of defs) {
    const row = lines.find((l) => l.startsWith(`| \`--${def.flag}\` |`));
    tt.ok(row, `a row for --${def.flag}`);
    tt.ok(row?.includes(`\`${envName(def.flag)}\``), `${def.flag}: environment variable`);
  }
  tt.ok(md.includes('| `--port` | `WEBIM_PORT` | `8080` |'));
  tt.ok(md.includes('| `--max-connections-per-ip` | `WEBIM_MAX_CONNECTIONS_PER_IP` | `200` |'));
});

t.test('docs/configuration.md contains the configuration table exactly as settingsMarkdown() prints it', async (tt) => {
  const doc = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));
  let text = '';
  try {
    text = readFileSync(doc, 'utf8');
  } catch (err) {
    tt.fail(`cannot read ${doc}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return;
  }
  tt.ok(text.replace(/\r\n/g, '\n').includes(settingsMarkdown()), 'docs/configuration.md table is up to date (npm run docs:config)');
});
