/**
 * Token login end to end (PROTOCOL.md section 7): a host application signs
 * a token with the configured secret, as README's "Logging users in from
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
