/**
 * webim behind a real nginx, configured by `webim nginx-config` (issue #6):
 * the shared chat scenarios over every transport through nginx's port,
 * the static files nginx serves itself (still there with the node
 * stopped), and request bodies up to the upload limit reaching the node.
 * Client addresses and origins behind the proxy: nginx-proxy.test.ts; a
 * poll held past nginx's default 60 s: nginx-longpoll.test.ts.
 *
 * One nginx runs for the whole file, in front of one node port; each
 * scenario starts a fresh node on that port (the scenarios expect a new
 * server) and stops it after.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Config } from '../src/config.js';
import { buildClientBundle } from '../src/http/client-bundle.js';
import type { ChatClient, Connect } from './helpers/client.js';
import { cometConnect } from './helpers/comet-client.js';
import { httpFrom } from './helpers/local-http.js';
import { checkConfig, freePort, generateConfig, requireNginx, startNginx } from './helpers/nginx.js';
import { startServer } from './helpers/server.js';
import { sockjsConnect } from './helpers/sockjs-client.js';
import { wsConnect } from './helpers/ws-client.js';
import { chatScenarios } from './scenarios/chat.js';

const EXAMPLE = fileURLToPath(new URL('../../deploy/nginx/webim.conf', import.meta.url));
const PUBLIC = fileURLToPath(new URL('../../public/', import.meta.url));

/** Fails the scenario when a client met a protocol violation (Comet) or sockjs-client fell back to another transport. */
function checked(connect: Connect, transport?: string): { connect: Connect; check(): void } {
  const clients: ChatClient[] = [];
  return {
    connect: async (opts) => {
      const c = await connect(opts);
      clients.push(c);
      return c;
    },
    check() {
      for (const c of clients) {
        const { protocolErrors, via } = c as ChatClient & { protocolErrors?: string[]; via?: string };
        if (protocolErrors !== undefined && protocolErrors.length > 0) throw new Error(`Comet protocol violations: ${protocolErrors.join('; ')}`);
        if (transport !== undefined && via !== transport) throw new Error(`sockjs-client used ${via} instead of ${transport}`);
      }
    },
  };
}

async function run(nginx: string): Promise<void> {
  const nodePort = await freePort();
  const proxyPort = await freePort();
  const base = `http://127.0.0.1:${proxyPort}`;
  const site = generateConfig(['--server-name', 'localhost', '--upstream', `127.0.0.1:${nodePort}`, '--listen', `127.0.0.1:${proxyPort}`]);
  const node = (overrides: Partial<Config> = {}) => startServer({ port: nodePort, trustProxy: ['127.0.0.1'], ...overrides });

  t.test('nginx -t accepts the generated configuration and the committed example', async (t) => {
    const generated = checkConfig(nginx, site);
    t.ok(generated.ok, `generated: ${generated.output}`);
    const example = checkConfig(nginx, readFileSync(EXAMPLE, 'utf8'));
    t.ok(example.ok, `deploy/nginx/webim.conf: ${example.output}`);
    t.notOk(checkConfig(nginx, site.replace('proxy_buffering off;', 'proxy_buffering off')).ok, 'a broken file is refused: the check checks');
  });

  const proxy = await startNginx(nginx, site, proxyPort);
  t.teardown(async () => {
    await proxy.stop();
    const problems = proxy.errorLog().split('\n').filter((l) => /\[(emerg|alert|crit)\]/.test(l));
    if (problems.length > 0) throw new Error(`nginx logged:\n${problems.join('\n')}`);
  });

  const transports: Array<[string, () => Connect, string?]> = [
    ['WebSocket', () => wsConnect(base)],
    ['Comet (XHR, JSON)', () => cometConnect(base, 'json')],
    ['Comet (JSONP)', () => cometConnect(base, 'jsonp')],
    ['SockJS (xhr-streaming)', () => sockjsConnect(base, 'xhr-streaming'), 'xhr-streaming'],
    ['SockJS (xhr-polling)', () => sockjsConnect(base, 'xhr-polling'), 'xhr-polling'],
    ['SockJS (websocket)', () => sockjsConnect(base, 'websocket'), 'websocket'],
  ];
  for (const [name, connectVia, pinned] of transports) {
    t.test(`chat scenarios through nginx over ${name}`, async (t) => {
      chatScenarios(t, async (overrides) => {
        const s = await node(overrides);
        const { connect, check } = checked(connectVia(), pinned);
        return {
          connect,
          async close() {
            await s.close();
            check();
          },
        };
      });
    });
  }

  t.test('bodies up to the upload limit reach the node, which answers for its own limits', async (t) => {
    const s = await node();
    t.teardown(() => s.close());
    const open = await httpFrom(`${base}/comet/open`, { method: 'POST' });
    const { sid } = JSON.parse(open.text) as { sid: string };
    const big = JSON.stringify([{ cmd: 'ping', pad: 'x'.repeat(70_000) }]);
    const tooLarge = await httpFrom(`${base}/comet/send?sid=${sid}`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    t.equal(tooLarge.status, 413);
    t.same(JSON.parse(tooLarge.text), { error: 'too_large' }, "the node's answer (JSON), not nginx's page");
    const upload = await httpFrom(`${base}/upload`, {
      method: 'POST',
      body: Buffer.alloc(1024 * 1024, 0x61),
      headers: { accept: 'application/json', 'content-type': 'multipart/form-data; boundary=x' },
    });
    t.equal(upload.status, 401, 'a 1 MiB upload without a token reaches the node: unauthorized');
    t.match(JSON.parse(upload.text), { error: 'unauthorized' });
    const over = await httpFrom(`${base}/upload`, { method: 'POST', body: Buffer.alloc(6 * 1024 * 1024, 0x61), headers: { 'content-type': 'multipart/form-data; boundary=x' } });
    t.equal(over.status, 413, 'a body over the upload limit is refused by nginx');
    t.match(over.headers['content-type'], /text\/html/, "nginx's own 413 page");
  });

  t.test('nginx serves the page, scripts and avatars itself, and they stay up while the node is down', async (t) => {
    const s = await node();
    const files: Array<[string, RegExp, RegExp]> = [
      ['/', /^text\/html/, /^no-cache$/],
      ['/app.js', /^application\/javascript/, /^no-cache$/],
      ['/style.css', /^text\/css/, /^no-cache$/],
      ['/avatars/cat.svg', /^image\/svg\+xml/, /max-age=604800/],
    ];
    const served = async (what: string) => {
      for (const [path, type, cache] of files) {
        const r = await httpFrom(`${base}${path}`);
        t.equal(r.status, 200, `${what}: ${path}`);
        t.match(r.headers['content-type'], type, `${what}: ${path} type`);
        // The node's @fastify/static would say `public, max-age=0`: these headers are nginx's.
        t.match(r.headers['cache-control'], cache, `${what}: ${path} caching`);
        const file = path === '/' ? 'index.html' : path.slice(1);
        t.equal(r.text, readFileSync(`${PUBLIC}${file}`, 'utf8'), `${what}: ${path} is the file in --root`);
      }
    };
    await served('node up');
    const polyfill = await httpFrom(`${base}/polyfills/sockjs.min.js`);
    t.equal(polyfill.status, 200, '/polyfills/ is proxied to the node');
    t.equal(polyfill.headers['cache-control'], 'public, max-age=86400', "with the node's caching");
    const bundle = await httpFrom(`${base}/webim.js`);
    t.equal(bundle.status, 200, '/webim.js, no file in --root, is proxied to the node that builds it');
    t.match(bundle.headers['content-type'], /^application\/javascript/, '/webim.js type');
    t.equal(bundle.text, buildClientBundle().body, '/webim.js is the joined client library');
    const health = await httpFrom(`${base}/healthz`);
    t.equal(health.status, 200, '/healthz through nginx');
    t.equal((await httpFrom(`${base}/metrics`)).status, 403, '/metrics is not on the public side');

    await s.close();
    await served('node down');
    t.equal((await httpFrom(`${base}/healthz`)).status, 502, 'the node is really down: proxied paths fail');
  });
}

const nginx = requireNginx(t);
if (nginx !== undefined) await run(nginx);
