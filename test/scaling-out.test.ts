/**
 * The "Scaling out" commands of docs/scaling.md, run as written: the block
 * after the `scaling-out commands` marker is taken from that page, and only
 * what must differ on a test machine is substituted (ports, the database
 * and Redis URLs, directories, the server name, where the nginx file goes);
 * each substitution must find its text, so a page that drifts fails
 * here. Then users reach the three nodes through nginx over WebSocket,
 * Comet and SockJS, land on different nodes and chat (issue 6's deferred
 * test: nodes behind a real nginx with Redis).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { ChatClient, Connect, Msg } from './helpers/client.js';
import { cometConnect } from './helpers/comet-client.js';
import { names } from './helpers/cluster.js';
import { checkConfig, cleanEnv, freePort, requireNginx, startNginx } from './helpers/nginx.js';
import { createTestDatabase } from './helpers/postgres.js';
import { BIN } from './helpers/process.js';
import { dropPrefix, requireRedis, testPrefix } from './helpers/redis.js';
import { sockjsConnect } from './helpers/sockjs-client.js';
import { wsConnect } from './helpers/ws-client.js';

const DOC = fileURLToPath(new URL('../../docs/scaling.md', import.meta.url));
const MARKER = '<!-- scaling-out commands: test/scaling-out.test.ts runs this block -->';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The shell block right after the marker. */
function docBlock(): string {
  const text = readFileSync(DOC, 'utf8');
  const at = text.indexOf(MARKER);
  if (at < 0) throw new Error('docs/scaling.md lost the scaling-out marker');
  const m = /```sh\n([\s\S]*?)```/.exec(text.slice(at));
  if (!m?.[1]) throw new Error('no sh block after the scaling-out marker');
  return m[1];
}

function substitute(block: string, pairs: Array<[string | RegExp, string]>): string {
  let out = block;
  for (const [from, to] of pairs) {
    const hit = typeof from === 'string' ? out.includes(from) : from.test(out);
    if (!hit) throw new Error(`the docs/scaling.md block no longer contains ${String(from)}`);
    out = typeof from === 'string' ? out.split(from).join(to) : out.replace(new RegExp(from.source, from.flags.includes('g') ? from.flags : from.flags + 'g'), to);
  }
  return out;
}

async function healthy(port: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) return true;
    await sleep(100);
  }
  return false;
}

const nginx = requireNginx(t);
const redis = nginx === undefined ? undefined : await requireRedis(t);
const database = redis === undefined ? undefined : await createTestDatabase(t);
if (nginx !== undefined && redis !== undefined && database !== undefined) {
  t.test('the docs/scaling.md commands start three nodes behind nginx, and users on different nodes chat', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'webim-scale-'));
    const prefix = testPrefix();
    const ports = [await freePort(), await freePort(), await freePort()] as const;
    const proxyPort = await freePort();
    const pids: number[] = [];
    t.teardown(async () => {
      for (const pid of pids) process.kill(pid, 'SIGTERM');
      await sleep(1500);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // ESRCH: it stopped on SIGTERM, as it should
        }
      }
      await dropPrefix(redis, prefix).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    });

    const block = docBlock();
    t.match(block, /^nginx -t && nginx -s reload$/m, 'the block ends by checking and reloading nginx');
    const siteFile = join(dir, 'webim.conf');
    let script = substitute(block.replace(/^nginx -t && nginx -s reload\n?$/m, ''), [
      ['redis://127.0.0.1:6379/0', redis],
      ['postgres://webim@127.0.0.1:5432/webim', database],
      ['8081', String(ports[0])],
      ['8082', String(ports[1])],
      ['8083', String(ports[2])],
      ['/var/lib/webim/', `${dir}/`],
      ['chat.example.com', 'localhost'],
      ['--listen 80', `--listen 127.0.0.1:${proxyPort}`],
      ['/etc/nginx/conf.d/webim.conf', siteFile],
      [/^webim /m, `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} `],
    ]);
    let n = 0;
    script = script.replace(/ &$/gm, () => ` > ${dir}/node${++n}.log 2>&1 & echo $! >> ${dir}/pids`);
    t.equal(n, 3, 'three nodes started in the background');

    // No pipes: the nodes the script leaves running in the background must not hold the test's.
    const shell = spawnSync('bash', ['-e', '-c', `exec 2>${dir}/shell.err\n${script}`], { env: { ...cleanEnv(), WEBIM_REDIS_PREFIX: prefix }, stdio: 'ignore' });
    const code = shell.status;
    const stderr = existsSync(join(dir, 'shell.err')) ? readFileSync(join(dir, 'shell.err'), 'utf8') : '';
    const pidFile = join(dir, 'pids');
    if (existsSync(pidFile)) for (const line of readFileSync(pidFile, 'utf8').split('\n')) if (line.trim() !== '') pids.push(Number(line));
    t.equal(code, 0, `the commands ran: ${stderr}\n${script}`);
    for (const [i, port] of ports.entries()) {
      const up = await healthy(port, 20000);
      t.ok(up, `node ${i + 1} answers /healthz`);
      const log = join(dir, `node${i + 1}.log`);
      if (!up && existsSync(log)) console.log(readFileSync(log, 'utf8').slice(-2000));
    }
    const site = readFileSync(siteFile, 'utf8');
    const check = checkConfig(nginx, site);
    t.ok(check.ok, `nginx -t: ${check.output}`);
    const proxy = await startNginx(nginx, site, proxyPort);
    t.teardown(() => proxy.stop());
    const base = `http://127.0.0.1:${proxyPort}`;

    t.test('users reach different nodes through nginx and chat', async (t) => {
      const login = async (connect: Connect, name: string): Promise<{ c: ChatClient; reply: Msg }> => {
        const c = await connect();
        t.teardown(() => c.close());
        c.send({ cmd: 'login', name });
        return { c, reply: await c.next((m) => m.cmd === 'login' || m.cmd === 'error', 10000) };
      };
      const users = [
        await login(wsConnect(base), 'Wanda'),
        await login(wsConnect(base), 'Walt'),
        await login(wsConnect(base), 'Wren'),
        await login(cometConnect(base, 'json'), 'Cody'),
        await login(sockjsConnect(base, 'xhr-streaming'), 'Suki'),
      ];
      for (const u of users) t.equal(u.reply.cmd, 'login');
      const counts = await Promise.all(ports.map(async (p) => ((await (await fetch(`http://127.0.0.1:${p}/healthz`)).json()) as { connections: number }).connections));
      t.ok(counts.filter((c) => c > 0).length >= 2, `connections spread over the nodes (${counts.join(', ')})`);
      const last = users[users.length - 1] as { c: ChatClient; reply: Msg };
      t.same(names(last.reply.online), ['Cody', 'Suki', 'Walt', 'Wanda', 'Wren'], 'the last login sees everyone, on every node');

      const wanda = users[0] as { c: ChatClient };
      wanda.c.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'hello, cluster', cid: 'hello' });
      const ack = await wanda.c.next('ack', 10000);
      for (const u of users) {
        const m = await u.c.next((m) => m.cmd === 'message' && m.cid === 'hello', 10000);
        t.equal(m.offset, ack.offset, `${u.reply.user ? (u.reply.user as { name: string }).name : '?'} got it with the acked offset`);
      }
      const suki = users[4] as { c: ChatClient };
      suki.c.send({ cmd: 'send', to: { user: 'wanda' }, type: 'text', body: 'from SockJS', cid: 'dm-s' });
      t.equal((await wanda.c.next((m) => m.cmd === 'message' && m.cid === 'dm-s', 10000)).body, 'from SockJS', 'a private message across nodes and transports');
    });
  });
}
