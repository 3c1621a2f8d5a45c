/**
 * Comet in JSONP mode as IE6-7 use it (issue 22), in chromium made to look
 * like IE6-7 (helpers/old-ie.ts). IE6-8 cannot request a URL longer than
 * 2,083 characters and nginx refuses a request line over 8 KiB, so a send
 * may not travel in the URL: a 4,000-character Chinese message and a run
 * of 50 short ones must arrive once each and in order with every request
 * URL at most 2,083 characters, straight to a node and through the vhost
 * `webim nginx-config` writes. A second page then sends, uploads an image
 * and pages back through history at once, and never has more than two of
 * its own requests to the chat host open (IE6-7's limit per host).
 */
import sharp from 'sharp';
import t, { type Test } from 'tap';
import type { Browser } from 'playwright-core';
import type { Msg } from './helpers/client.js';
import { conversation, enterChat, inOffsetOrder, inPage, launchBrowser, noPageErrors, type Person, say, shownMessages, until, waitForBodies } from './helpers/browser.js';
import { freePort, generateConfig, requireNginx, startNginx } from './helpers/nginx.js';
import { oldIeScript, type RequestWatch, watchOwnRequests } from './helpers/old-ie.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

/** The longest URL IE6-8 can request. */
const IE_URL_MAX = 2083;
const LONG = '网络聊天室里的每一条消息都应该完整地送到，不多也不少。'.repeat(200).slice(0, 4000);
const SHORT = Array.from({ length: 50 }, (_, i) => `短消息 ${i + 1}`);

/** Types the 50 short lines into the composer and clicks send for each, at once (runs in the page: ES3 only). */
function typeShortLines(): number {
  const doc = (globalThis as unknown as { document: { getElementById(id: string): { value: string; click(): void } } }).document;
  for (let i = 1; i <= 50; i++) {
    doc.getElementById('composer').value = `短消息 ${i}`;
    doc.getElementById('send').click();
  }
  return 50;
}

/** Collects the codes of the `error` frames the page's client receives (its poll answers, read as they arrive). */
function watchRefusals(p: Person, into: string[]): void {
  p.page.on('response', (res) => {
    if (!res.url().includes('/comet/poll')) return;
    void res.text().then(
      (text) => {
        for (const m of text.matchAll(/"cmd":"error","code":"([a-z_]+)"/g)) into.push(m[1] as string);
      },
      () => undefined,
    );
  });
}

/** A photo-like PNG (noise compresses badly), big enough that storing it takes the server a while. */
function noisyPng(): Promise<Buffer> {
  return sharp({ create: { width: 900, height: 900, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .png()
    .toBuffer();
}

async function jsonpScenario(t: Test, browser: Browser, base: string): Promise<void> {
  const chatHost = new URL(base).host;
  const mine = (u: URL) => u.host === chatHost && (u.pathname.startsWith('/comet/') || /^\/upload(\/|$)/.test(u.pathname));
  const { c: watcher } = await login(wsConnect(base), 'Watcher');
  t.teardown(() => watcher.close());
  const query = '?transport=comet&comet=jsonp';
  const lin = await enterChat(t, browser, base, 'Lin', { initScript: oldIeScript('ie67'), query });
  t.equal(await lin.page.getByTestId('transport').textContent(), 'comet', 'the IE6-7 page is on Comet');
  // A slow network (or a busy machine): each post takes a second, so what the page sends meanwhile piles up
  // behind it, and must still leave no faster than the server's rate limit takes it.
  await lin.page.route(/\/comet\/send\?/, (route) => void new Promise((r) => setTimeout(r, 1000)).then(() => route.continue()));
  const refusals: string[] = [];
  watchRefusals(lin, refusals);

  await say(lin.page, LONG);
  // Typed at once, faster than the page may send them: they queue, and go out in batches, one post at a time.
  await inPage(lin.page, typeShortLines);
  const sent = [LONG, ...SHORT];
  const fromLin = () => watcher.log.filter((m: Msg) => m.cmd === 'message' && (m.from as { id: string }).id === lin.id);
  await until(async () => fromLin().length, (n) => n >= sent.length, `${sent.length} messages from Lin`, 30000);
  await new Promise((r) => setTimeout(r, 300)); // time for a duplicate to show up
  const got = fromLin();
  t.equal(got.length, sent.length, 'each message arrived once');
  t.ok(got.map((m) => m.body).every((b, i) => b === sent[i]), 'in the order typed, the long one whole');
  t.ok(got.every((m, i) => i === 0 || (m.offset as number) > (got[i - 1]?.offset as number)), 'offsets rise');
  const shown = await waitForBodies(lin.page, sent, 20000);
  t.same(shown.map((m) => m.body), sent, 'the page shows each once, in order');
  t.same(refusals, [], 'nothing was refused on the way');

  // Mei comes later: the lobby shows her its last 50 messages, and the first is one page back.
  let watch: RequestWatch | undefined;
  const mei = await enterChat(t, browser, base, 'Mei', {
    initScript: oldIeScript('ie67'),
    query,
    onPage: (page) => (watch = watchOwnRequests(page, mine)),
  });
  await until(() => shownMessages(mei.page), (m) => m.length === 50, 'the lobby\'s last 50 messages on Mei\'s page');
  await mei.page.getByTestId('upload').setInputFiles({ name: 'noise.png', mimeType: 'image/png', buffer: await noisyPng() });
  await say(mei.page, 'one while the image uploads');
  await conversation(mei.page).locator('.conv-top').click();
  await say(mei.page, 'and one more');
  const all = await until(
    () => shownMessages(mei.page),
    (m) => m.some((x) => x.offset === 1) && m.some((x) => x.url !== null) && m.some((x) => x.body === 'and one more'),
    'history paged back, the image and both lines shown',
    20000,
  );
  t.equal(all[0]?.body, LONG, 'paging back brought the first message');
  t.ok(inOffsetOrder(all), 'in offset order');
  const lines = all.filter((m) => m.from === mei.id).map((m) => m.url ?? m.body);
  t.equal(lines.length, 3, 'Mei\'s two lines and her image, once each');
  const max = watch?.max() ?? 0;
  t.ok(max <= 2, `at most two requests to the chat host at once (saw ${max}: ${watch?.busiest().join(' ')})`);

  for (const p of [lin, mei] as Person[]) {
    const longest = p.requests.reduce((a, b) => (b.length > a.length ? b : a), '');
    t.ok(longest.length <= IE_URL_MAX, `${p.name}'s longest request URL has ${longest.length} characters: ${longest.slice(0, 120)}`);
  }
  noPageErrors(t, [lin, mei]);
}

const browser = await launchBrowser(t);

if (browser) {
  t.test('straight to a node', async (t) => {
    const s = await startServer();
    t.teardown(() => s.close());
    await jsonpScenario(t, browser, s.url);
  });

  t.test('through the nginx vhost of webim nginx-config', async (t) => {
    const nginx = requireNginx(t);
    if (nginx === undefined) return;
    const nodePort = await freePort();
    const proxyPort = await freePort();
    const s = await startServer({ port: nodePort, trustProxy: ['127.0.0.1'] });
    t.teardown(() => s.close());
    const site = generateConfig(['--server-name', 'localhost', '--upstream', `127.0.0.1:${nodePort}`, '--listen', `127.0.0.1:${proxyPort}`]);
    const proxy = await startNginx(nginx, site, proxyPort);
    t.teardown(() => proxy.stop());
    await jsonpScenario(t, browser, `http://127.0.0.1:${proxyPort}`);
  });
}
