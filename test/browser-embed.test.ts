/**
 * The chat embedded in a site of another origin (issue 22, docs/embedding.md):
 * a host page served by a small server of its own, on `localhost:<port>`,
 * loads `/embed.js` from the chat at `127.0.0.1:<other port>`, which writes
 * the chat's UI into the page and loads `/webim.js` and the page scripts
 * from the chat origin. The chat runs with `--allowed-origins` naming the
 * host page's origin. In each browser mode a person logs in, chats with a
 * WebSocket user, sends an image (upload and display) and sees the avatars,
 * all from the chat origin:
 *
 * - modern chromium: WebSocket, CORS XHR uploads;
 * - IE8-9 (helpers/old-ie.ts): Comet over a shimmed XDomainRequest, uploads
 *   by a form posted into a hidden iframe;
 * - IE6-7: Comet over JSONP, uploads by the iframe too, every URL within
 *   IE's 2,083 characters and never more than two requests to the chat
 *   host at once.
 *
 * The same host page on an origin not allowed (`127.0.0.1:<port>`) is
 * refused on every transport, and its page says so.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import t, { type Test } from 'tap';
import type { Browser } from 'playwright-core';
import type { Msg } from './helpers/client.js';
import { enterChat, inPage, launchBrowser, noPageErrors, type Person, say, shownMessages, until, waitForBodies } from './helpers/browser.js';
import { type OldIe, oldIeScript, type RequestWatch, watchOwnRequests } from './helpers/old-ie.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

const IE_URL_MAX = 2083;

/** The host site: one page that embeds the chat as docs/embedding.md says. */
function hostSite(chatUrl: () => string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/host.html') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Example site</title></head>
<body>
<h1 id="site-title">An example site with the chat in it</h1>
<script type="text/javascript" src="${chatUrl()}/embed.js"></script>
</body></html>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

interface Loaded {
  src: string;
  width: number;
}

/** src and natural width of the first image under each selector (runs in the page: ES3 only). */
function imagesInPage(): Loaded[] {
  const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ src: string; complete: boolean; naturalWidth: number }> } }).document;
  const out: Loaded[] = [];
  const selectors = ['#me-avatar img', '[data-testid="message-body"] img'];
  for (let i = 0; i < selectors.length; i++) {
    const img = doc.querySelectorAll(selectors[i] as string)[0];
    out.push(img ? { src: img.src, width: img.complete ? img.naturalWidth : 0 } : { src: '', width: 0 });
  }
  return out;
}

const browser = await launchBrowser(t);

if (browser) {
  let chatUrl = '';
  const host = await hostSite(() => chatUrl);
  t.teardown(() => new Promise<void>((r) => host.server.close(() => r())));
  const allowed = `http://localhost:${host.port}`;
  const refused = `http://127.0.0.1:${host.port}`;
  const s = await startServer({ allowedOrigins: [allowed] });
  t.teardown(() => s.close());
  chatUrl = s.url;
  const chatHost = new URL(s.url).host;
  const { c: watcher } = await login(wsConnect(s.url), 'Watcher');
  t.teardown(() => watcher.close());
  const image = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3d85c6' } }).png().toBuffer();

  const embedded = async (t: Test, b: Browser, name: string, mode: OldIe | 'modern', transport: string): Promise<void> => {
    let watch: RequestWatch | undefined;
    const p: Person = await enterChat(t, b, allowed, name, {
      query: `host.html${mode === 'modern' ? '' : '?transport=comet'}`,
      ...(mode === 'modern' ? {} : { initScript: oldIeScript(mode) }),
      onPage: (page) => (watch = watchOwnRequests(page, (u) => u.host === chatHost && (u.pathname.startsWith('/comet/') || /^\/upload(\/|$)/.test(u.pathname)))),
    });
    t.equal(await p.page.locator('#site-title').textContent(), 'An example site with the chat in it', 'the host page is the site\'s');
    t.equal(await p.page.getByTestId('transport').textContent(), transport, `on ${transport}`);

    await say(p.page, `hello from ${name}`);
    await watcher.next((m: Msg) => m.cmd === 'message' && m.body === `hello from ${name}`, 10000);
    watcher.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: `hi ${name}`, cid: `w-${name}` });
    await waitForBodies(p.page, [`hello from ${name}`, `hi ${name}`]);

    await p.page.getByTestId('upload').setInputFiles({ name: 'blue.png', mimeType: 'image/png', buffer: image });
    const sent = await watcher.next((m: Msg) => m.cmd === 'message' && m.type === 'image' && (m.from as { name: string }).name === name, 15000);
    t.match(sent.body, /^\/uploads\/[A-Za-z0-9_-]{16}\.png$/, 'the upload gave a URL of the chat server, sent as an image message');
    await until(() => shownMessages(p.page), (m) => m.some((x) => x.url === sent.body), 'the image message on the page');
    const [avatar, shown] = await until(
      () => inPage(p.page, imagesInPage),
      (imgs) => imgs.every((i) => i.width > 0),
      'the avatar and the image loaded',
    );
    t.ok(avatar?.src.startsWith(`${s.url}/avatars/`), `the avatar comes from the chat origin: ${avatar?.src}`);
    t.ok(shown?.src.startsWith(`${s.url}/uploads/`), `the image comes from the chat origin: ${shown?.src}`);

    if (mode === 'ie89') {
      t.ok(await inPage(p.page, () => (globalThis as unknown as { __xdrRequests?: number }).__xdrRequests ?? 0), 'Comet went over XDomainRequest');
    }
    if (mode === 'ie67') {
      // IE8 has six connections to a host: only IE6-7's two are a limit the client keeps.
      const max = watch?.max() ?? 0;
      t.ok(max <= 2, `at most two requests to the chat host at once (saw ${max}: ${watch?.busiest().join(' ')})`);
      t.ok(p.requests.some((u) => /\/comet\/poll\?.*callback=/.test(u)), 'Comet polled by JSONP');
      const longest = p.requests.reduce((a, b) => (b.length > a.length ? b : a), '');
      t.ok(longest.length <= IE_URL_MAX, `longest request URL: ${longest.length} characters`);
    }
    noPageErrors(t, [p]);
  };

  t.test('modern chromium: WebSocket, CORS uploads', (t) => embedded(t, browser, 'Modern', 'modern', 'websocket'));
  t.test('IE8-9: Comet over XDomainRequest, iframe uploads', (t) => embedded(t, browser, 'Ie-nine', 'ie89', 'comet'));
  t.test('IE6-7: Comet over JSONP, iframe uploads, two requests at most', (t) => embedded(t, browser, 'Ie-six', 'ie67', 'comet'));

  t.test('a host page of an origin not allowed is refused on every transport, and says so', async (t) => {
    // The three at once: each waits out the client's backoff from one refused transport to the next.
    const modes = ['modern', 'ie89', 'ie67'] as const;
    const pages = await Promise.all(
      modes.map((mode) =>
        enterChat(t, browser, refused, `Refused-${mode}`, { query: 'host.html', noLogin: true, ...(mode === 'modern' ? {} : { initScript: oldIeScript(mode) }) }),
      ),
    );
    const said = await Promise.all(
      pages.map((p, i) => until(() => p.page.getByTestId('login-error').textContent(), (text) => /forbidden/.test(text ?? ''), `${modes[i]}: the page says why`, 20000)),
    );
    for (const [i, p] of pages.entries()) {
      t.match(said[i], /not allowed/, `${modes[i]}: ${said[i]}`);
      t.equal(await p.page.getByTestId('connection').textContent(), 'offline', `${modes[i]}: not connected`);
    }
    noPageErrors(t, pages);
    t.notOk(watcher.log.some((m) => m.cmd === 'presence' && /^refused-/.test((m.user as { id: string }).id)), 'nobody from there came online');
  });
}
