/**
 * `webim nginx-config` without nginx (issue #6): the committed example is
 * the command's output for the arguments in its header, timeouts and body
 * limits follow the node settings they are derived from (flags and the
 * same WEBIM_ variables as `webim start`), the routing is the documented
 * one, and bad arguments stop the command with exit code 2.
 * nginx itself checks and runs the output in nginx*.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ConfigError, defaultConfig, settingsMarkdown } from '../src/config.js';
import { bodyLimitOf, nginxConfig, nginxSettings, PACKAGE_PUBLIC_DIR, parseNginxConfig, readTimeoutOf } from '../src/nginx-config.js';
import { cleanEnv, generateConfig } from './helpers/nginx.js';
import { BIN } from './helpers/process.js';

const EXAMPLE = fileURLToPath(new URL('../../deploy/nginx/webim.conf', import.meta.url));
const DEPLOY_DOC = fileURLToPath(new URL('../../docs/deploy.md', import.meta.url));
const base = ['--server-name', 'chat.example.com'];

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** The text of every directive line of a block, e.g. `upstream webim_by_client`. */
function blockOf(conf: string, head: string): string {
  const start = conf.indexOf(`${head} {`);
  if (start < 0) throw new Error(`no block "${head}"`);
  return conf.slice(start, conf.indexOf('\n}', start) + 2);
}

t.test('deploy/nginx/webim.conf is exactly what its header command prints', async (t) => {
  const example = readFileSync(EXAMPLE, 'utf8');
  const command = /^#\s+webim nginx-config (.*)$/m.exec(example)?.[1];
  t.ok(command, 'the header names the command');
  if (command === undefined) return;
  t.notMatch(command, /['"\\]/, 'plain words only, so splitting on spaces is the shell\'s reading');
  const regenerate = `node dist/bin/webim.js nginx-config ${command} > deploy/nginx/webim.conf`;
  t.equal(generateConfig(command.split(' ')), example, `up to date (${regenerate})`);
});

t.test('timeouts come from the node settings: three times the longest quiet time, 75 s by default', async (t) => {
  const defaults = defaultConfig();
  const quiet = Math.max(defaults.pollTimeout, defaults.heartbeatInterval, defaults.sockjsHeartbeat);
  t.equal(readTimeoutOf(parseNginxConfig(base, {})), Math.ceil((3 * quiet) / 1000));
  t.equal(readTimeoutOf(parseNginxConfig(base, {})), 75);
  const conf = nginxConfig(parseNginxConfig(base, {}), base);
  t.match(conf, /\n {4}proxy_read_timeout 75s;\n {4}proxy_send_timeout 75s;\n/);
  t.ok(readTimeoutOf(parseNginxConfig(base, {})) * 1000 > Math.max(defaults.pollTimeout, defaults.heartbeatInterval + defaults.heartbeatTimeout));
  t.equal(readTimeoutOf(parseNginxConfig([...base, '--poll-timeout', '50000'], {})), 150, 'a longer poll');
  t.equal(readTimeoutOf(parseNginxConfig(base, { WEBIM_HEARTBEAT_INTERVAL: '40000' })), 120, "the nodes' environment");
  t.equal(readTimeoutOf(parseNginxConfig(base, { WEBIM_SOCKJS_HEARTBEAT: '30000' })), 90);
  t.equal(readTimeoutOf(parseNginxConfig([...base, '--read-timeout', '300'], {})), 300, 'or given outright');
});

t.test('the body limit covers an upload (and any message) plus multipart framing', async (t) => {
  const o = parseNginxConfig(base, {});
  t.equal(bodyLimitOf(o), Math.ceil((defaultConfig().uploadMaxBytes + 65536) / 1024));
  t.match(nginxConfig(o, base), /client_max_body_size 5184k;/);
  t.equal(bodyLimitOf(parseNginxConfig([...base, '--upload-max-bytes', '1048576'], {})), 1088);
  t.equal(bodyLimitOf(parseNginxConfig([...base, '--upload-max-bytes', '1024', '--max-message-size', '2097152'], {})), 2112, 'whichever is larger');
});

t.test('routing: SockJS by session id, Comet by client address, the rest to any node', async (t) => {
  const args = [...base, '--upstream', '10.0.0.1:8080,10.0.0.2:8080,[::1]:9000'];
  const conf = nginxConfig(parseNginxConfig(args, {}), args);
  for (const name of ['webim_nodes', 'webim_by_client', 'webim_by_session']) {
    const b = blockOf(conf, `upstream ${name}`);
    t.match(b, /server 10\.0\.0\.1:8080;\n\s+server 10\.0\.0\.2:8080;\n\s+server \[::1\]:9000;/, `${name} lists every node`);
    t.match(b, /keepalive \d+;\n\s+keepalive_timeout 4000ms;\n\}$/, `${name} keeps connections, after the balancing method, idle below the node's 5 s`);
  }
  t.match(blockOf(conf, 'upstream webim_by_client'), /hash \$webim_client consistent;/);
  t.match(blockOf(conf, 'upstream webim_by_session'), /hash \$webim_sockjs_session consistent;/);
  t.match(blockOf(conf, 'upstream webim_nodes'), /least_conn;/);
  const shortIdle = nginxConfig(parseNginxConfig([...args, '--keep-alive-timeout', '1000'], {}), args);
  t.match(blockOf(shortIdle, 'upstream webim_nodes'), /keepalive_timeout 500ms;/, 'a short node timeout: nginx gives up its idle connections at half of it');
  t.match(blockOf(conf, 'map $uri $webim_sockjs_session'), /~\^\/sockjs\/\[\^\/\.\]\+\/\(\[\^\/\.\]\+\)\//);
  t.match(blockOf(conf, '    location ^~ /comet/'), /proxy_pass http:\/\/webim_by_client;[^}]*proxy_buffering off;[^}]*gzip off;/s);
  t.match(blockOf(conf, '    location ~ ^/sockjs(?:/|$)'), /proxy_pass http:\/\/webim_by_session;[^}]*Connection \$webim_connection_upgrade;[^}]*proxy_buffering off;/s);
  t.match(blockOf(conf, '    location = /ws'), /proxy_pass http:\/\/webim_nodes;[^}]*Upgrade \$http_upgrade;/s);
  t.match(blockOf(conf, '    location /'), /X-Forwarded-For \$remote_addr;[^}]*X-Forwarded-Proto \$scheme;/s);
  const named = nginxConfig(parseNginxConfig([...base, '--name', 'chat2'], {}), base);
  t.notMatch(named, /webim_/, '--name renames every upstream and variable');
});

t.test('static files come from --root, by default the package\'s public/', async (t) => {
  t.match(nginxConfig(parseNginxConfig(base, {}), base), `\n    root ${PACKAGE_PUBLIC_DIR.replace(/\/$/, '')};\n`);
  t.match(nginxConfig(parseNginxConfig([...base, '--root', '/srv/webim/public/'], {}), base), '\n    root /srv/webim/public;\n');
  t.match(nginxConfig(parseNginxConfig(base, { WEBIM_ROOT: '/opt/w/public' }), base), '\n    root /opt/w/public;\n');
});

t.test('bad arguments stop the command with exit code 2 and say which', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /--server-name is required/],
    [[...base, '--upstream', 'localhost'], /not a host:port: "localhost"/],
    [[...base, '--upstream', '127.0.0.1:70000'], /not a host:port/],
    [[...base, '--listen', '80 ssl'], /not a port or address:port/],
    [[...base, '--root', '/srv/x;evil'], /--root/],
    [['--server-name', 'a b{'], /not a host name/],
    [[...base, '--name', 'Web-IM'], /--name/],
    [[...base, '--read-timeout', 'soon'], /whole number/],
    [[...base, '--bogus'], /unknown flag --bogus/],
  ];
  for (const [args, message] of cases) {
    const err = thrown(() => parseNginxConfig(args, {}));
    t.ok(err instanceof ConfigError, `${args.join(' ')}: a configuration error`);
    t.match(err instanceof Error ? err.message : '', message, `${args.join(' ')}: says why`);
  }
  // The command itself, for two of them: exit code 2, the reason, and no half configuration on stdout.
  for (const [args, message] of cases.slice(0, 2)) {
    const r = spawnSync(process.execPath, [BIN, 'nginx-config', ...args], { env: cleanEnv(), encoding: 'utf8' });
    t.equal(r.status, 2, `webim nginx-config ${args.join(' ')}: exit code`);
    t.match(r.stderr, message);
    t.equal(r.stdout, '', 'prints no configuration');
  }
});

t.test('webim help lists the flags of nginx-config', async (t) => {
  const r = spawnSync(process.execPath, [BIN, 'help'], { env: cleanEnv(), encoding: 'utf8' });
  t.equal(r.status, 0);
  t.match(r.stdout, /nginx-config/);
  for (const flag of ['server-name', 'upstream', 'listen', 'root', 'read-timeout']) t.match(r.stdout, new RegExp(`--${flag} `), `--${flag}`);
});

t.test("docs/deploy.md's table of nginx-config flags is up to date", async (t) => {
  const doc = readFileSync(DEPLOY_DOC, 'utf8').replace(/\r\n/g, '\n');
  t.ok(doc.includes(settingsMarkdown(nginxSettings)), 'regenerate with node dist/bin/webim.js help nginx-config --markdown');
});
