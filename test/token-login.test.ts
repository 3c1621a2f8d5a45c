/**
 * Token login end to end (docs/protocol.md section 7): a host application signs
 * a token with the configured secret, as docs/identity.md's "Logging users in from
 * your application" shows, and the browser logs in with it over a real
 * transport. Then `--no-guest-login`: a login without a valid token gets
 * `unauthorized` on every transport, and the connection stays for a retry.
 */
import { SignJWT } from 'jose';
import t from 'tap';
import { defaultAvatar } from '../src/avatars.js';
import type { Connect, Msg } from './helpers/client.js';
import { cometConnect } from './helpers/comet-client.js';
import { startServer } from './helpers/server.js';
import { sockjsConnect } from './helpers/sockjs-client.js';
import { wsConnect } from './helpers/ws-client.js';
import { login, sendText } from './scenarios/chat.js';

const SECRET = 'the secret the host application shares with webim';
const nowS = (): number => Math.floor(Date.now() / 1000);

/** What a host application's login page does on its server: sign who the user is, for a few minutes. */
function issue(claims: { sub: string; name?: string; avatar?: string }, opts: { ttl?: number; secret?: string } = {}): Promise<string> {
  const { sub, ...profile } = claims;
  return new SignJWT(profile)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(nowS() + (opts.ttl ?? 300))
    .sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

/** The login answer or the error, whichever comes. */
async function tryLogin(connect: Connect, msg: object): Promise<{ reply: Msg; c: Awaited<ReturnType<Connect>> }> {
  const c = await connect();
  c.send({ cmd: 'login', ...msg });
  return { reply: await c.next((m) => m.cmd === 'login' || m.cmd === 'error'), c };
}

t.test('a token signed by the host application logs in over WebSocket as its sub', async (t) => {
  const s = await startServer({ tokenSecret: SECRET });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const { c: ada, me } = await login(connect, 'Not Ada', { token: await issue({ sub: 'u-1001', name: 'Ada', avatar: 'owl' }) });
  t.teardown(() => ada.close());
  t.same(me.user, { id: 'u-1001', name: 'Ada', avatar: 'owl', status: 'online' }, 'identity and profile from the token, not the login name');
  t.ok((me.joined as string[]).includes('lobby'), 'a first login is a lobby member, as a guest is');

  const { c: bob } = await login(connect, 'Bob');
  t.teardown(() => bob.close());
  sendText(ada, { room: 'lobby' }, 'hello from the host app');
  const seen = await bob.next((m) => m.cmd === 'message');
  t.same(seen.from, { id: 'u-1001', name: 'Ada', avatar: 'owl' }, 'from is the token identity');

  const { reply: guest } = await tryLogin(connect, { name: 'U-1001' });
  t.match(guest, { cmd: 'error', code: 'name_taken', ref: 'login' }, 'a guest cannot take the id of a token user who is online');
  const { c: tab2, me: again } = await login(connect, 'Ada', { token: me.token });
  t.teardown(() => tab2.close());
  t.equal((again.user as { id: string }).id, 'u-1001', 'the token webim returned lets a second tab in');
});

t.test('missing profile claims fall back: name from the login or the sub, the default avatar', async (t) => {
  const s = await startServer({ tokenSecret: SECRET });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const { c: a, reply: bare } = await tryLogin(connect, { token: await issue({ sub: 'u-2002' }) });
  t.teardown(() => a.close());
  t.same(bare.user, { id: 'u-2002', name: 'u-2002', avatar: defaultAvatar('u-2002'), status: 'online' }, 'no name anywhere: the sub');
  const { c: b, me: named } = await login(connect, 'Grace', { avatar: 'cat', token: await issue({ sub: 'u-3003' }) });
  t.teardown(() => b.close());
  t.same(named.user, { id: 'u-3003', name: 'Grace', avatar: 'cat', status: 'online' }, 'name and avatar from the login');
  const long = 'x'.repeat(40);
  const { c: l, reply: cut } = await tryLogin(connect, { token: await issue({ sub: long }) });
  t.teardown(() => l.close());
  t.equal((cut.user as { name: string }).name, 'x'.repeat(32), 'a long sub is cut to a name of 32 characters');
});

t.test('expired, future, forged and foreign tokens get unauthorized; the connection stays', async (t) => {
  const s = await startServer({ tokenSecret: SECRET });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const bad: Array<[string, string]> = [
    ['expired', await issue({ sub: 'u1' }, { ttl: -120 })],
    ['another secret', await issue({ sub: 'u1' }, { secret: 'not the shared secret' })],
    ['not yet valid', await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setNotBefore(nowS() + 600).setExpirationTime(nowS() + 900).sign(new TextEncoder().encode(SECRET))],
    ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'u1', exp: nowS() + 60 })).toString('base64url')}.`],
    ['garbage', 'a.b.c'],
  ];
  const c = await connect();
  t.teardown(() => c.close());
  for (const [what, token] of bad) {
    c.send({ cmd: 'login', token });
    t.match(await c.next('error'), { code: 'unauthorized', ref: 'login' }, what);
  }
  c.send({ cmd: 'login', token: await issue({ sub: 'u1', name: 'Finally' }) });
  t.match(await c.next('login'), { user: { id: 'u1', name: 'Finally' } }, 'a good token on the same connection then logs in');
});

/** Waits until the server has seen the last connection of `id` end (a client's close reaches it a moment later). */
async function offline(s: Awaited<ReturnType<typeof startServer>>, id: string): Promise<void> {
  for (let i = 0; i < 100 && s.server.hub.dir.users.has(id); i++) await new Promise((r) => setTimeout(r, 20));
  if (s.server.hub.dir.users.has(id)) throw new Error(`${id} is still online`);
}

t.test('a guest cannot take the id of a token user who is offline, by name or with a guest token', async (t) => {
  const s = await startServer({ tokenSecret: SECRET });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  // A guest signs in first under the name that is the host user's sub, and keeps the token webim gives it.
  const { c: early, me: earlyMe } = await login(connect, 'U-7');
  early.close();
  await offline(s, 'u-7');

  const { c: ursula } = await login(connect, 'Ursula', { token: await issue({ sub: 'u-7', name: 'Ursula' }) });
  ursula.close();
  await offline(s, 'u-7');
  const { c: bob } = await login(connect, 'Bob');
  t.teardown(() => bob.close());
  sendText(bob, { user: 'u-7' }, 'for Ursula only', 'secret-1');
  await bob.next((m) => m.cmd === 'ack' && m.cid === 'secret-1');

  for (const [what, msg] of [
    ['by name', { name: 'U-7' }],
    ['by name, in other case', { name: 'u-7' }],
    ['with the guest token from before the first token login', { token: earlyMe.token }],
  ] as Array<[string, object]>) {
    const { reply, c } = await tryLogin(connect, msg);
    t.teardown(() => c.close());
    t.match(reply, { cmd: 'error', code: 'name_taken', ref: 'login' }, `a guest is refused ${what}`);
    t.ok(await c.quiet((m) => m.cmd === 'message', 200), `${what}: no offline message reaches the guest`);
  }
  const { c: back, me: backMe } = await login(connect, 'Ursula', { token: await issue({ sub: 'u-7' }) });
  t.teardown(() => back.close());
  t.match(backMe.user, { id: 'u-7', name: 'Ursula' }, 'the profile was not rewritten by a refused guest');
  t.equal((await back.next((m) => m.cmd === 'message')).cid, 'secret-1', 'the token user gets the offline message');
});

t.test("a guest's own token does not make its name a token user's", async (t) => {
  const s = await startServer({ tokenSecret: SECRET });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const { c: tab1, me } = await login(connect, 'Gil');
  const { c: tab2 } = await login(connect, 'Gil', { token: me.token });
  tab1.close();
  tab2.close();
  await offline(s, 'gil');
  const { c: later } = await login(connect, 'Gil', { token: me.token });
  t.teardown(() => later.close());
  t.pass('the guest logs in with its own token again once offline');
  const { reply } = await tryLogin(connect, { name: 'gil' });
  t.match(reply, { cmd: 'error', code: 'name_taken' }, 'and holds the name while online, as before');
});

t.test("a guest online at the id's first token login is ended; it never shares the token user's session", async (t) => {
  const s = await startServer({ tokenSecret: SECRET });
  t.teardown(() => s.close());
  const connect = wsConnect(s.url);
  const { c: squatter, me: squat } = await login(connect, 'U-9');
  const { c: tab2 } = await login(connect, 'U-9', { token: squat.token });
  const { c: owner, me } = await login(connect, 'Ulla', { token: await issue({ sub: 'u-9', name: 'Ulla' }) });
  t.teardown(() => owner.close());
  for (const c of [squatter, tab2]) {
    t.match(await c.next('bye'), { code: 'kicked', reconnect: false }, 'each guest connection is told why');
  }
  t.match(me.user, { id: 'u-9', name: 'Ulla' });
  t.equal(s.server.hub.dir.users.get('u-9')?.conns.size, 1, 'the session holds the token login alone');
  const { reply } = await tryLogin(connect, { token: squat.token });
  t.match(reply, { cmd: 'error', code: 'name_taken' }, 'the guest cannot come back with its token');
  const { c: device2, me: again } = await login(connect, 'Ulla', { token: me.token });
  t.teardown(() => device2.close());
  t.match(again.user, { id: 'u-9' }, "the token webim issued to the token user is no guest's: a second device joins");
  t.ok(await owner.quiet('bye', 200), 'and the first device stays');
});

t.test('--no-guest-login refuses a guest token issued while guests were allowed', async (t) => {
  const open = await startServer({ tokenSecret: SECRET });
  const { c, me } = await login(wsConnect(open.url), 'Gwen');
  c.close();
  await open.close();
  const closed = await startServer({ tokenSecret: SECRET, guestLogin: false });
  t.teardown(() => closed.close());
  const { reply, c: again } = await tryLogin(wsConnect(closed.url), { token: me.token });
  t.teardown(() => again.close());
  t.match(reply, { cmd: 'error', code: 'unauthorized' }, 'the guest token is a guest login');
});

const transports: Array<[string, (url: string) => Connect]> = [
  ['WebSocket', wsConnect],
  ['Comet (JSON)', (url) => cometConnect(url, 'json')],
  ['Comet (JSONP)', (url) => cometConnect(url, 'jsonp')],
  ['SockJS (xhr-polling)', (url) => sockjsConnect(url, 'xhr-polling')],
  ['SockJS (websocket)', (url) => sockjsConnect(url, 'websocket')],
];

t.test('--no-guest-login: no token, no login, on every transport', async (t) => {
  const s = await startServer({ tokenSecret: SECRET, guestLogin: false });
  t.teardown(() => s.close());
  let n = 0;
  for (const [name, make] of transports) {
    const connect = make(s.url);
    const { reply, c } = await tryLogin(connect, { name: 'Mallory' });
    t.match(reply, { cmd: 'error', code: 'unauthorized', ref: 'login' }, `${name}: a guest login is refused`);
    t.equal(typeof reply.message, 'string', `${name}: with a text the page can show`);
    c.send({ cmd: 'join', room: 'lobby' });
    t.match(await c.next('error'), { code: 'not_logged_in' }, `${name}: still not logged in`);
    c.send({ cmd: 'login', name: 'Mallory', token: 'forged.token.value' });
    t.match(await c.next('error'), { code: 'unauthorized' }, `${name}: a bad token is refused too`);
    const sub = `u-${++n}`;
    c.send({ cmd: 'login', token: await issue({ sub, name: `User ${n}` }) });
    t.match(await c.next('login'), { user: { id: sub } }, `${name}: the same connection logs in with a token`);
    c.close();
  }
  t.equal(s.server.hub.dir.users.has('mallory'), false, 'no guest ever came online');
});

t.test('--guest-login off is read from the flag and WEBIM_GUEST_LOGIN', async (t) => {
  const { parseConfig } = await import('../src/config.js');
  t.equal(parseConfig([], {}).guestLogin, true, 'on by default');
  t.equal(parseConfig(['--no-guest-login'], {}).guestLogin, false);
  t.equal(parseConfig(['--guest-login=off'], {}).guestLogin, false);
  t.equal(parseConfig([], { WEBIM_GUEST_LOGIN: 'off' }).guestLogin, false);
  t.equal(parseConfig(['--guest-login'], { WEBIM_GUEST_LOGIN: 'off' }).guestLogin, true, 'the flag wins over the environment');
});
