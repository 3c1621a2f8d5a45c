/**
 * What a node believes about its clients behind nginx (issue #6), over
 * WebSocket, Comet and SockJS alike: with `--trust-proxy 127.0.0.1` the
 * client's own address (per-IP limits count clients, not nginx), from any
 * other peer its socket address whatever X-Forwarded-For it sends; and the
 * default origin check sees the scheme and Host the browser used.
 *
 * Clients connect from 127.0.0.2 and 127.0.0.3, so that they differ from
 * nginx (127.0.0.1, the trusted proxy) and from each other.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { httpFrom, type LocalReply, wsFrom } from './helpers/local-http.js';
import { freePort, generateConfig, requireNginx, startNginx } from './helpers/nginx.js';
import { startServer, type TestServer } from './helpers/server.js';

const SPOOF = { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `open` and resolves with the address the node recorded for the one connection it opened. */
async function addressOf(s: TestServer, open: () => Promise<unknown>): Promise<string> {
  const before = new Set(s.server.hub.conns);
  await open();
  for (let i = 0; i < 100; i++) {
    const added = [...s.server.hub.conns].filter((c) => !before.has(c));
    if (added.length === 1) return added[0]?.ip ?? '';
    if (added.length > 1) throw new Error(`${added.length} connections opened, expected one`);
    await sleep(20);
  }
  throw new Error('no connection opened');
}

function sockjsPath(): string {
  return `/sockjs/000/${randomBytes(8).toString('hex')}/xhr`;
}

async function run(nginx: string): Promise<void> {
  const nodePort = await freePort();
  const proxyPort = await freePort();
  const viaNginx = `http://127.0.0.1:${proxyPort}`;
  const direct = `http://127.0.0.1:${nodePort}`;
  const site = generateConfig(['--server-name', 'localhost', '--upstream', `127.0.0.1:${nodePort}`, '--listen', `127.0.0.1:${proxyPort}`]);
  const proxy = await startNginx(nginx, site, proxyPort);
  t.teardown(() => proxy.stop());

  /** One connection of each transport from `from` to `base`, each with a spoofed X-Forwarded-For: the addresses the node saw. */
  const addresses = async (s: TestServer, base: string, from: string) => {
    const ws = await addressOf(s, () => wsFrom(`${base.replace('http', 'ws')}/ws`, from, SPOOF));
    const comet = await addressOf(s, async () => {
      const r = await httpFrom(`${base}/comet/open`, { method: 'POST', from, headers: SPOOF });
      if (r.status !== 200) throw new Error(`comet open: ${r.status} ${r.text}`);
    });
    const sockjs = await addressOf(s, async () => {
      const r = await httpFrom(`${base}${sockjsPath()}`, { method: 'POST', from, headers: SPOOF });
      if (r.text !== 'o\n') throw new Error(`sockjs open: ${r.status} ${r.text}`);
    });
    return { ws, comet, sockjs };
  };

  t.test('through nginx the node sees the client, not nginx and not what the client claims', async (t) => {
    const s = await startServer({ port: nodePort, trustProxy: ['127.0.0.1'] });
    t.teardown(() => s.close());
    t.same(await addresses(s, viaNginx, '127.0.0.2'), { ws: '127.0.0.2', comet: '127.0.0.2', sockjs: '127.0.0.2' });
    t.same(await addresses(s, viaNginx, '127.0.0.3'), { ws: '127.0.0.3', comet: '127.0.0.3', sockjs: '127.0.0.3' });
  });

  t.test('X-Forwarded-For from a peer that is not a trusted proxy is ignored; from a trusted one it is believed', async (t) => {
    const s = await startServer({ port: nodePort, trustProxy: ['127.0.0.1'] });
    t.teardown(() => s.close());
    t.same(await addresses(s, direct, '127.0.0.2'), { ws: '127.0.0.2', comet: '127.0.0.2', sockjs: '127.0.0.2' }, 'untrusted direct client');
    t.same(await addresses(s, direct, '127.0.0.1'), { ws: '203.0.113.9', comet: '203.0.113.9', sockjs: '203.0.113.9' }, 'the trusted address');
  });

  t.test('without --trust-proxy nobody is believed, nginx included', async (t) => {
    const s = await startServer({ port: nodePort });
    t.teardown(() => s.close());
    t.same(await addresses(s, viaNginx, '127.0.0.2'), { ws: '127.0.0.1', comet: '127.0.0.1', sockjs: '127.0.0.1' }, 'every client is nginx');
    t.same(await addresses(s, direct, '127.0.0.2'), { ws: '127.0.0.2', comet: '127.0.0.2', sockjs: '127.0.0.2' });
  });

  t.test('the per-IP connection limit counts each client behind nginx', async (t) => {
    const s = await startServer({ port: nodePort, trustProxy: ['127.0.0.1'], maxConnectionsPerIp: 1 });
    t.teardown(() => s.close());
    const url = `${viaNginx.replace('http', 'ws')}/ws`;
    const login = async (from: string, name: string) => {
      const c = await wsFrom(url, from);
      c.ws.send(JSON.stringify({ cmd: 'login', name }));
      return { c, reply: await c.inbox.next((m) => m.cmd === 'login' || m.cmd === 'bye') };
    };
    const a = await login('127.0.0.2', 'Ada');
    t.equal(a.reply.cmd, 'login', 'the first client is in');
    const b = await login('127.0.0.3', 'Bea');
    t.equal(b.reply.cmd, 'login', 'a second client at another address is in: nginx is not what is counted');
    const again = await wsFrom(url, '127.0.0.2');
    t.match(await again.inbox.next('bye'), { code: 'too_many_connections' }, 'a second connection from the first address is over the limit');
    t.equal(await again.closed, 1008);
    const comet = await httpFrom(`${viaNginx}/comet/open`, { method: 'POST', from: '127.0.0.2' });
    t.equal(comet.status, 429, 'Comet counts the same address');
    const sockjs = await httpFrom(`${viaNginx}${sockjsPath()}`, { method: 'POST', from: '127.0.0.3' });
    t.equal(sockjs.status, 429, 'SockJS counts the same address');
    a.c.ws.close();
    b.c.ws.close();
  });

  t.test('the default origin check sees the scheme and Host the browser used', async (t) => {
    const s = await startServer({ port: nodePort, trustProxy: ['127.0.0.1'] });
    t.teardown(() => s.close());
    /** Comet open, SockJS info and a WebSocket upgrade with `origin`: each one's status. */
    const statuses = async (base: string, origin: string, from: string, headers: Record<string, string> = {}) => {
      const comet: LocalReply = await httpFrom(`${base}/comet/open`, { method: 'POST', from, headers: { ...headers, origin } });
      const sockjs = await httpFrom(`${base}/sockjs/info`, { from, headers: { ...headers, origin } });
      const ws = await wsFrom(`${base.replace('http', 'ws')}/ws`, from, headers, origin).then(
        (c) => (c.ws.close(), 101),
        (err: Error) => Number(/refused: (\d+)/.exec(err.message)?.[1] ?? 0),
      );
      return { comet: comet.status, sockjs: sockjs.status, ws };
    };
    const ok = { comet: 200, sockjs: 200, ws: 101 };
    const refused = { comet: 403, sockjs: 403, ws: 403 };
    t.same(await statuses(viaNginx, viaNginx, '127.0.0.2'), ok, "nginx's own origin, port included, is the page's");
    t.same(await statuses(viaNginx, viaNginx.replace('http:', 'https:'), '127.0.0.2'), refused, 'https is refused where nginx was reached by http');
    t.same(await statuses(viaNginx, 'http://evil.example', '127.0.0.2'), refused, 'another site is refused');
    const tls = { 'x-forwarded-proto': 'https' };
    const httpsOrigin = direct.replace('http:', 'https:');
    t.same(await statuses(direct, httpsOrigin, '127.0.0.1', tls), ok, 'a trusted proxy that terminated TLS says https');
    t.same(await statuses(direct, httpsOrigin, '127.0.0.2', tls), refused, 'anyone else saying so is not believed');
  });
}

const nginx = requireNginx(t);
if (nginx !== undefined) await run(nginx);
