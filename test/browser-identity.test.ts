/**
 * A guest's identity in the browser (docs/protocol.md, "Identity"): the
 * page keeps the login token, so a reload and a second tab are the same
 * user with the same private chat on screen; logging out forgets it; and a
 * stranger who types the name, in another browser, is told in words that
 * it is taken. Once in a modern page (localStorage) and once in a legacy
 * one with no localStorage either (IE6-7), where WebIM.storage falls back
 * to a cookie.
 */
import type { Page } from 'playwright-core';
import t from 'tap';
import {
  channelShown, dmChannel, enterChat, inPage, launchBrowser, noPageErrors, onlineIds, openPrivate, type OpenOptions,
  say, until, waitForBodies,
} from './helpers/browser.js';
import { oldIeScript } from './helpers/old-ie.js';
import { startServer } from './helpers/server.js';

/** IE6-7 has no Web Storage either: taken away after what helpers/old-ie.ts takes (ES3 itself). */
const NO_STORAGE = `(function (w) {
  var keys = ['localStorage', 'sessionStorage'], i;
  for (i = 0; i < keys.length; i++) {
    try { Object.defineProperty(w, keys[i], { get: function () { return undefined; }, configurable: true }); } catch (e) {}
  }
})(window);`;

declare const window: { WebIM: { storage: { kind(): string } }; localStorage?: unknown };

const MODES: Array<[string, OpenOptions, string]> = [
  ['modern', {}, 'local'],
  ['IE6-7, no localStorage', { initScript: `${oldIeScript('ie67')}\n${NO_STORAGE}` }, 'cookie'],
];

/** Who the page shows as logged in, once it shows someone: [name, id]. */
async function shownAs(page: Page): Promise<[string, string]> {
  const me = page.getByTestId('me');
  const name = await until(() => me.textContent(), (v) => v !== null && v !== '', 'someone shown as logged in');
  return [name ?? '', (await me.getAttribute('data-user')) ?? ''];
}

const browser = await launchBrowser(t);

if (browser) {
  for (const [mode, opts, storage] of MODES) {
    t.test(`${mode}: a reload and a second tab stay logged in; logging out forgets it; the name stays taken`, async (t) => {
      const s = await startServer();
      t.teardown(() => s.close());
      const dave = await enterChat(t, browser, s.url, 'Dave', opts);
      const carol = await enterChat(t, browser, s.url, 'Carol', opts);
      t.equal(await inPage(carol.page, () => window.WebIM.storage.kind()), storage, `the page keeps the token in ${storage} storage`);
      const channel = dmChannel(carol.id, dave.id);
      t.equal(await openPrivate(carol.page, dave.id), channel);
      await say(carol.page, 'are you there?');
      await waitForBodies(carol.page, ['are you there?']);

      await carol.page.reload();
      t.same(await shownAs(carol.page), ['Carol', carol.id], 'after a reload: still Carol, with no login form');
      t.notOk(await carol.page.getByTestId('login-name').isVisible(), 'the login form is not shown');
      await until(() => channelShown(carol.page), (c) => c === channel, 'the private chat back on screen');
      await waitForBodies(carol.page, ['are you there?']);

      const tab2 = await carol.context.newPage();
      tab2.on('pageerror', (err) => carol.errors.push(`tab 2: ${err.message}`));
      await tab2.goto(`${s.url}/${opts.query ?? ''}`);
      t.same(await shownAs(tab2), ['Carol', carol.id], 'a second tab is the same user');
      await say(tab2, 'from my other tab');
      await waitForBodies(carol.page, ['are you there?', 'from my other tab']);

      await carol.page.locator('#logout').click();
      await carol.page.reload();
      await carol.page.getByTestId('login-name').waitFor({ state: 'visible' });
      await new Promise((r) => setTimeout(r, 1000));
      t.equal(await carol.page.getByTestId('me').textContent(), '', 'after logging out, a reload shows the login form and stays there');
      t.ok(await carol.page.getByTestId('login-name').isVisible());

      await tab2.close();
      await until(() => onlineIds(dave.page), (ids) => !ids.includes(carol.id), 'Carol gone from the online list');
      const stranger = await enterChat(t, browser, s.url, 'carol', { ...opts, noLogin: true });
      await stranger.page.getByTestId('login-name').fill('carol');
      await stranger.page.getByTestId('login-submit').click();
      const error = stranger.page.getByTestId('login-error');
      const text = await until(() => error.textContent(), (v) => v !== null && v !== '', 'the refusal shown');
      t.match(text, /is taken/, `in words: ${JSON.stringify(text)}`);
      t.match(text, /such as "carol\d\d"/, 'with another name to try');
      t.match(text, /\(name_taken\)$/, 'and its code');
      noPageErrors(t, [dave, carol, stranger]);
    });
  }
}
