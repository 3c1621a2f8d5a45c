/**
 * The page of docs/client.md that embeds the chat (docs/examples/embed.html),
 * as a reader would copy it: its chat server URL pointed at a test server,
 * opened in chromium as a modern browser and as a "legacy" one stripped of
 * what IE6-8 lack. Both log in and chat with each other with no page error,
 * come back as themselves after a reload (the page remembers the login),
 * and docs/client.md shows the page exactly as it is tested.
 *
 * As docs/client.md tells a reader to try it, the page comes from a site
 * of its own (a small HTTP server on another port, so another origin) and
 * the chat server lets that origin in with `allowedOrigins`. (Chromium's
 * local network checks also refuse a WebSocket to 127.0.0.1 from a page
 * that did not itself come from a local address, as one fulfilled by the
 * test would not.)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import t, { type Test } from 'tap';
import { inPage, launchBrowser, login, type Person, say, until, waitForBodies } from './helpers/browser.js';
import { startServer } from './helpers/server.js';

const PAGE_FILE = fileURLToPath(new URL('../../docs/examples/embed.html', import.meta.url));
const CLIENT_DOC = fileURLToPath(new URL('../../docs/client.md', import.meta.url));
/** The chat server the example names, which a reader replaces with theirs. */
const EXAMPLE_SERVER = 'http://localhost:8080';

/**
 * Runs before any page script: removes what old IE lacks (as the legacy page
 * of browser-transports.test.ts does). ES3 itself, since it removes the ES5
 * array methods.
 */
const LEGACY = `(function (w) {
  function drop(obj, key) {
    try { delete obj[key]; } catch (e) {}
    try { if (obj[key] !== undefined) obj[key] = undefined; } catch (e) {}
  }
  var i, arrayMethods = ['forEach', 'map', 'filter', 'indexOf', 'some', 'every', 'reduce'];
  drop(w, 'WebSocket');
  drop(w, 'EventSource');
  drop(w, 'JSON');
  for (i = 0; i < arrayMethods.length; i++) drop(Array.prototype, arrayMethods[i]);
  drop(Object, 'keys');
  drop(Function.prototype, 'bind');
  drop(String.prototype, 'trim');
  w.__jsonBeforePage = typeof w.JSON;
})(window);`;

const browser = await launchBrowser(t);

/**
 * "Your site": serves the example page on a loopback port of its own, with
 * the chat server's URL `chatUrl()` gives at the time of the request (the
 * chat server, which must know the site's origin, starts after it). Closed
 * at the test's end; resolves to the site's origin.
 */
async function siteFor(t: Test, chatUrl: () => string): Promise<string> {
  const site = createServer((req, res) => {
    if (req.url !== '/embed.html') return void res.writeHead(404).end();
    const html = readFileSync(PAGE_FILE, 'utf8').split(EXAMPLE_SERVER).join(chatUrl());
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => site.close(() => resolve())));
  return `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
}

/** A new context on the example page of `site`, logged in as `name`. */
async function openExample(t: Test, b: Browser, site: string, name: string, legacy: boolean): Promise<Person> {
  const context = await b.newContext();
  t.teardown(() => context.close());
  context.setDefaultTimeout(15000);
  if (legacy) await context.addInitScript(LEGACY);
  const page = await context.newPage();
  const person: Person = { name, id: '', context, page, errors: [], dialogs: [], requests: [] };
  page.on('pageerror', (err) => person.errors.push(err.message));
  page.on('request', (req) => person.requests.push(req.url()));
  await page.goto(`${site}/embed.html`);
  person.id = await login(page, name);
  return person;
}

t.test('docs/client.md shows the example page exactly as it is tested', async (t) => {
  const doc = readFileSync(CLIENT_DOC, 'utf8');
  const page = readFileSync(PAGE_FILE, 'utf8');
  t.ok(page.split(EXAMPLE_SERVER).length - 1 >= 3, `the page names its chat server (${EXAMPLE_SERVER}) where a reader changes it`);
  t.ok(doc.includes('```html\n' + page + '```'), 'the page is in docs/client.md, in an html block');
});

if (browser) {
  t.test('the example page chats in a modern and a legacy browser', async (t) => {
    let chat = '';
    const site = await siteFor(t, () => chat);
    const server = await startServer({ allowedOrigins: [site] });
    t.teardown(() => server.close());
    chat = server.url;
    const modern = await openExample(t, browser, site, 'Modern', false);
    const legacy = await openExample(t, browser, site, 'Legacy', true);
    const text = (p: Person, id: string) => p.page.getByTestId(id).textContent();

    t.equal(await text(modern, 'transport'), 'websocket', 'the modern page uses WebSocket');
    const seen = await inPage(legacy.page, () => {
      const w = globalThis as unknown as Record<string, unknown>;
      return { before: String(w.__jsonBeforePage), now: typeof w.JSON, webSocket: typeof w.WebSocket };
    });
    t.same(seen, { before: 'undefined', now: 'object', webSocket: 'undefined' }, 'the legacy page had no JSON until json3 came, and no WebSocket');
    t.equal(await text(legacy, 'transport'), 'comet', 'so it long-polls (the example loads no SockJS)');
    t.ok(legacy.requests.some((u) => u.includes('/polyfills/json3.min.js')), 'json3 came from the chat server');

    await say(modern.page, 'hello from a modern browser');
    await waitForBodies(legacy.page, ['hello from a modern browser']);
    await say(legacy.page, 'and from an old one');
    for (const p of [modern, legacy]) {
      const shown = await waitForBodies(p.page, ['hello from a modern browser', 'and from an old one']);
      t.same(shown.map((m) => m.from), [modern.id, legacy.id], `${p.name} sees both lines, in order, from their senders`);
    }

    // remember: true: a reload logs back in as the same guest, with no name typed, and shows the lobby again.
    for (const p of [modern, legacy]) {
      await p.page.reload();
      await until(() => text(p, 'me'), (name) => name === p.name, `${p.name} logged back in after a reload`);
      t.equal(await p.page.getByTestId('me').getAttribute('data-user'), p.id, `${p.name} is the same user after the reload`);
      await waitForBodies(p.page, ['hello from a modern browser', 'and from an old one']);
    }

    // A third person who comes later gets the lobby's history.
    const late = await openExample(t, browser, site, 'Late', false);
    const shown = await waitForBodies(late.page, ['hello from a modern browser', 'and from an old one']);
    t.equal(shown.length, 2, 'a later visitor sees the history once');
    await until(() => text(late, 'connection'), (s) => s === 'online', 'the late page online');

    for (const p of [modern, legacy, late]) t.same(p.errors, [], `no page error for ${p.name}`);
  });
}
