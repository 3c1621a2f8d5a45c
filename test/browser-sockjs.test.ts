/**
 * The SockJS transports that exist only in browsers (issue #4 leaves them
 * to the browser tests): each one, pinned in sockjs-client as the page
 * serves it from /polyfills/, logs in and sends a message that a
 * WebSocket user receives. XDomainRequest transports exist only in IE8-9
 * and cannot run here.
 */
import t from 'tap';
import { launchBrowser } from './helpers/browser.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

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
            type Sock = {
              transport?: string;
              onopen: () => void;
              onclose: (e: { code: number }) => void;
              onmessage: (e: { data: unknown }) => void;
              send(text: string): void;
              close(): void;
            };
            const SockJSCtor = (globalThis as unknown as { SockJS: new (url: string, p: null, o: object) => Sock }).SockJS;
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
}
