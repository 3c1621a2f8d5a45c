/**
 * Token login and `--no-guest-login` in the browser, in chromium: the
 * login form shows why a guest is refused (and no chat view appears), and
 * a host page logs a user in with a token its server signed, through the
 * client library's `login(null, null, callback, token)`.
 */
import { SignJWT } from 'jose';
import t from 'tap';
import { enterChat, launchBrowser, noPageErrors, until } from './helpers/browser.js';
import { startServer } from './helpers/server.js';

const SECRET = 'browser token test secret';

const browser = await launchBrowser(t);

if (browser) {
  t.test('with guest login off the form says so, and a host token logs in through WebIM.Client', async (t) => {
    const s = await startServer({ tokenSecret: SECRET, guestLogin: false });
    t.teardown(() => s.close());
    const p = await enterChat(t, browser, s.url, 'Mallory', { noLogin: true });
    await p.page.getByTestId('login-name').fill('Mallory');
    await p.page.getByTestId('login-submit').click();
    const error = p.page.getByTestId('login-error');
    const text = await until(() => error.textContent(), (v) => v !== null && v !== '', 'the login error shown');
    t.match(text, /guest/i, `the reason is shown: ${JSON.stringify(text)}`);
    t.match(text, /\(unauthorized\)$/, 'with its code');
    t.ok(await error.isVisible(), 'visible');
    t.notOk(await p.page.locator('#chat-view').isVisible(), 'no chat view');
    t.equal(await p.page.getByTestId('login-submit').isEnabled(), true, 'the form can be used again');

    const token = await new SignJWT({ name: 'Ada Host', avatar: 'owl' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('site-42')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    const user = await p.page.evaluate(
      (tok) =>
        new Promise<unknown>((resolve, reject) => {
          // The page's own global, as a host page that embeds /webim.js has it.
          const W = (globalThis as unknown as { WebIM: { Client: new (o: object) => { login(n: null, a: null, cb: (err: unknown, ok?: { user: unknown }) => void, token: string): void } } }).WebIM;
          const im = new W.Client({ url: '', transport: 'websocket' });
          im.login(null, null, (err, ok) => (err ? reject(new Error(JSON.stringify(err))) : resolve(ok?.user)), tok);
        }),
      token,
    );
    t.same(user, { id: 'site-42', name: 'Ada Host', avatar: 'owl', status: 'online' }, 'the token identity, from the page');
    noPageErrors(t, [p]);
  });
}
