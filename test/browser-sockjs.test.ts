/**
 * The SockJS transports that exist only in browsers (issue #4 leaves them
 * to the browser tests): each one, pinned in sockjs-client as the page
 * serves it from /polyfills/, logs in and sends a message that a
 * WebSocket user receives. XDomainRequest transports exist only in IE8-9
 * and cannot run here. Then all of them again in a browser with
 * postMessage but no native JSON (IE8 in compatibility view, issue 22),
 * where the page loads json3 and the iframe page must too, with no
 * uncaught error in any frame.
 */
import t from 'tap';
import { launchBrowser } from './helpers/browser.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

/** sockjs-client's SockJS as the in-page probes use it (a type only: the functions run in the page). */
type PageSockJS = new (url: string, protocols: null, options: object) => {
  transport?: string;
  onopen: () => void;
  onclose: (e: { code: number }) => void;
  onmessage: (e: { data: unknown }) => void;
  send(text: string): void;
  close(): void;
};

const browser = await launchBrowser(t);

const TRANSPORTS = [
  'websocket',
  'xhr-streaming',
  'eventsource',
  'iframe-eventsource',
  'iframe-htmlfile',
  'xhr-polling',
  'iframe-xhr-polling',
  'jsonp-polling',
];

interface ProbeResult {
  transport: string;
  ack: boolean;
  error?: string;
}

if (browser) {
  t.teardown(() => browser.close());
  const s = await startServer();
  t.teardown(() => s.close());
  const { c: watcher } = await login(wsConnect(s.url), 'Watcher');

  for (const transport of TRANSPORTS) {
    t.test(`sockjs-client ${transport} from a browser page`, async (t) => {
      const context = await browser.newContext();
      t.teardown(() => context.close());
      const page = await context.newPage();
      // The chat page itself loads /polyfills/sockjs.min.js; a page served by the server (not faked by the
      // test) is also what Chromium's local-network checks expect before it lets a page open a loopback WebSocket.
      await page.goto(`${s.url}/`);
      const name = `via-${transport}`;
      const result = await page.evaluate(
        ({ transport, name }) =>
          new Promise<ProbeResult>((resolve) => {
            const SockJSCtor = (globalThis as unknown as { SockJS: PageSockJS }).SockJS;
            const sock = new SockJSCtor('/sockjs', null, { transports: [transport] });
            const timer = setTimeout(() => resolve({ transport: String(sock.transport), ack: false, error: 'timeout' }), 15000);
            sock.onopen = () => sock.send(JSON.stringify({ cmd: 'login', name }));
            sock.onclose = (e) => resolve({ transport: String(sock.transport), ack: false, error: `closed ${e.code}` });
            sock.onmessage = (e) => {
              const m = JSON.parse(String(e.data)) as { cmd: string };
              if (m.cmd === 'login') {
                sock.send(JSON.stringify({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: `hello over ${transport}`, cid: 'p1' }));
              } else if (m.cmd === 'ack') {
                clearTimeout(timer);
                resolve({ transport: String(sock.transport), ack: true });
                sock.close();
              }
            };
          }),
        { transport, name },
      );
      t.equal(result.transport, transport, 'sockjs-client used the pinned transport');
      t.ok(result.ack, `the message was acked${result.error ? ` (${result.error})` : ''}`);
      const got = await watcher.next((m) => m.cmd === 'message' && m.body === `hello over ${transport}`, 15000);
      t.match(got.from, { name });
    });
  }

  t.test('every forceable transport in a browser without native JSON, with no uncaught error in any frame', async (t) => {
    const context = await browser.newContext();
    t.teardown(() => context.close());
    // In every frame, before its scripts: no JSON (json3 is the page's to load).
    await context.addInitScript('(function (w) { try { delete w.JSON; } catch (e) {} if (w.JSON) w.JSON = undefined; })(window);');
    const page = await context.newPage();
    const errors: string[] = [];
    const frames = new Set<string>();
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('frameattached', (f) => frames.add(f.url()));
    page.on('framenavigated', (f) => frames.add(f.url()));
    await page.goto(`${s.url}/`);
    t.equal(await page.evaluate('typeof JSON3'), 'object', 'the page loaded json3 in place of the missing JSON');
    const results = await page.evaluate(
      (transports) =>
        new Promise<ProbeResult[]>((resolve) => {
          const SockJSCtor = (globalThis as unknown as { SockJS: PageSockJS }).SockJS;
          const out: ProbeResult[] = [];
          const next = (i: number): void => {
            const transport = transports[i];
            if (transport === undefined) return resolve(out);
            let over = false;
            const sock = new SockJSCtor('/sockjs', null, { transports: [transport] });
            const finish = (ack: boolean, error?: string) => {
              if (over) return;
              over = true;
              clearTimeout(timer);
              out.push({ transport: String(sock.transport), ack, ...(error === undefined ? {} : { error }) });
              sock.onclose = () => undefined;
              sock.close();
              setTimeout(() => next(i + 1), 50);
            };
            const timer = setTimeout(() => finish(false, 'timeout'), 10000);
            sock.onopen = () => sock.send(JSON.stringify({ cmd: 'login', name: `nojson-${i}` }));
            sock.onclose = (e) => finish(false, `closed ${e.code}`);
            sock.onmessage = (e) => {
              const m = JSON.parse(String(e.data)) as { cmd: string };
              if (m.cmd === 'login') sock.send(JSON.stringify({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: `no JSON over ${transport}`, cid: 'j1' }));
              else if (m.cmd === 'ack') finish(true);
            };
          };
          next(0);
        }),
      TRANSPORTS,
    );
    for (const [i, transport] of TRANSPORTS.entries()) {
      const r = results[i];
      t.equal(r?.transport, transport, `${transport}: sockjs-client used it`);
      t.ok(r?.ack, `${transport}: logged in and the message was acked${r?.error ? ` (${r.error})` : ''}`);
    }
    t.ok([...frames].some((u) => /\/sockjs\/iframe[^/]*\.html/.test(u)), 'the iframe transports loaded the iframe page');
    t.same(errors, [], 'no uncaught error in the page or any of its frames');
  });
}
