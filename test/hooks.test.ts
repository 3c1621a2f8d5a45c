/**
 * Backend hooks (docs/api.md, "Hooks") against a site's backend that
 * checks every signature (test/helpers/hook-app.ts): the login hook lets
 * the site's logged-in user in from its session cookie, the publish hook
 * refuses, filters and lets through, the offline hook hears of a private
 * message for someone online nowhere; on every transport, under every
 * failure policy, and on two nodes.
 */
import { SignJWT } from 'jose';
import t, { type Test } from 'tap';
import type { Config } from '../src/config.js';
import { signature, verifyCall } from '../src/hooks/caller.js';
import type { ChatClient, Connect, Msg } from './helpers/client.js';
import { cometConnect } from './helpers/comet-client.js';
import { loginOn, startCluster } from './helpers/cluster.js';
import { type HookApp, startHookApp } from './helpers/hook-app.js';
import { startServer, type TestServer } from './helpers/server.js';
import { sockjsConnect } from './helpers/sockjs-client.js';
import { wsConnect } from './helpers/ws-client.js';

const SECRET = 'token secret of the hooks test';

async function withHooks(t: Test, app: HookApp, more: Partial<Config> = {}): Promise<TestServer> {
  const s = await startServer({ hookUrl: app.url, hookSecret: app.secret, tokenSecret: SECRET, ...more });
  t.teardown(() => s.close());
  return s;
}

async function attempt(connect: Connect, fields: object, cookie?: string): Promise<{ c: ChatClient; reply: Msg }> {
  const c = await connect(cookie === undefined ? {} : { cookie });
  c.send({ cmd: 'login', ...fields });
  return { c, reply: await c.next((m) => m.cmd === 'login' || m.cmd === 'error') };
}

async function until(ok: () => boolean, what: string, ms = 8000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}

const hostToken = (sub: string, name: string) => new SignJWT({ name }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub)
  .setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));

t.test('the signature: the app takes webim\'s calls, and refuses a wrong secret or an old time', async (t) => {
  const body = '{"hook":"offline"}';
  const now = Math.floor(Date.now() / 1000);
  t.ok(verifyCall('s3cret', String(now), signature('s3cret', now, body), body, now));
  t.notOk(verifyCall('s3cret', String(now), signature('other', now, body), body, now), 'another secret');
  t.notOk(verifyCall('s3cret', String(now), signature('s3cret', now, body), body + ' ', now), 'another body');
  t.notOk(verifyCall('s3cret', String(now - 600), signature('s3cret', now - 600, body), body, now), 'ten minutes old: a replay');
  t.notOk(verifyCall('s3cret', undefined, undefined, body, now), 'unsigned');
  const app = await startHookApp(t);
  const forged = await fetch(app.url, { method: 'POST', body, headers: { 'x-webim-timestamp': String(now), 'x-webim-signature': signature('guess', now, body) } });
  t.equal(forged.status, 401, 'the app refuses a forged call');
  t.equal(app.refused, 1);
});

const TRANSPORTS: Array<[string, (url: string) => Connect, boolean]> = [
  ['WebSocket', (url) => wsConnect(url), true],
  ['Comet (JSON)', (url) => cometConnect(url, 'json'), true],
  ['Comet (JSONP)', (url) => cometConnect(url, 'jsonp'), true],
  ['SockJS (xhr-streaming)', (url) => sockjsConnect(url, 'xhr-streaming'), false],
];

for (const [name, connectTo, carriesCookie] of TRANSPORTS) {
  t.test(`${name}: login from the site's cookie, publish filtered, offline told`, async (t) => {
    const app = await startHookApp(t);
    const s = await withHooks(t, app);
    const connect = connectTo(s.url);
    app.sessions.set('s-ada', { id: 'ada-42', name: 'Ada' });
    app.sessions.set('s-bob', { id: 'bob-7', name: 'Bob', avatar: 'owl' });
    const { c: nobody, reply: refused } = await attempt(connect, { name: 'Mallory' }, 'site=unknown');
    t.match(refused, { cmd: 'error', code: 'unauthorized', message: 'log in on the site first' }, 'the app refuses, with its reason');
    nobody.close();
    let ada: ChatClient;
    if (carriesCookie) {
      const got = await attempt(connect, { name: 'anything' }, 'theme=dark; site=s-ada');
      t.match(got.reply, { cmd: 'login', user: { id: 'ada-42', name: 'Ada' } }, 'the site\'s session cookie says who she is');
      t.match(app.calls.at(-1), { hook: 'login', name: 'anything', transport: got.c.transport.split('-')[0], headers: { cookie: 'theme=dark; site=s-ada' } });
      const calls = app.calls.length;
      const again = await attempt(connect, { token: got.reply.token });
      t.match(again.reply, { cmd: 'login', user: { id: 'ada-42' } }, 'her webim token brings her back');
      t.equal(app.calls.length, calls, '... without asking the app again');
      again.c.close();
      ada = got.c;
    } else {
      t.same((app.calls.at(-1)?.headers as object | undefined) ?? {}, {}, 'sockjs passes no cookie on: the app sees none (docs/api.md)');
      ada = (await attempt(connect, { name: 'Ada', token: await hostToken('ada-42', 'Ada') })).c;
    }
    const bob = await attempt(wsConnect(s.url), { name: 'x' }, 'site=s-bob');
    t.equal((bob.reply.user as { id: string }).id, 'bob-7');
    ada.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'well darn', cid: 'd1' });
    t.match(await bob.c.next((m) => m.cmd === 'message' && m.cid === 'd1'), { body: 'well d**n' }, 'the app replaced the body');
    ada.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'cheap spam', cid: 's1' });
    t.match(await ada.next((m) => m.cmd === 'error'), { code: 'rejected', message: 'no spam here', ref: 's1' }, 'refused with the app\'s reason');
    ada.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'hello', cid: 'h1' });
    t.match(await ada.next((m) => m.cmd === 'ack' && m.cid === 'h1'), { offset: 2 }, 'the refused message took no offset');
    bob.c.send({ cmd: 'logout' });
    await bob.c.closed;
    await until(() => !s.server.hub.cluster.isOnline('bob-7'), 'Bob offline');
    ada.send({ cmd: 'send', to: { user: 'bob-7' }, type: 'text', body: 'call me', cid: 'o1' });
    await until(() => app.calls.some((c) => c.hook === 'offline'), 'the offline event');
    t.match(app.calls.find((c) => c.hook === 'offline'), { user: 'bob-7', message: { channel: 'dm:ada-42:bob-7', body: 'call me', from: { id: 'ada-42' } } });
    t.equal(app.refused, 0, 'every call webim made verified');
    ada.close();
  });
}

t.test('failure policies: a slow, failing or babbling app is handled as configured, nothing lost or doubled', async (t) => {
  const app = await startHookApp(t);
  app.sessions.set('s-ada', { id: 'ada-42', name: 'Ada' });
  const closed = await withHooks(t, app, { hookTimeout: 300, hookLoginFail: 'closed', hookPublishFail: 'closed' });
  const open = await withHooks(t, app, { hookTimeout: 300, hookLoginFail: 'open', hookPublishFail: 'open', hookPublishOn: ['room'] });
  for (const bad of ['slow', 'error', 'garbage', 'shape'] as const) {
    app.misbehave.login = bad;
    const refused = await attempt(wsConnect(closed.url), { name: 'Ada' }, 'site=s-ada');
    t.match(refused.reply, { cmd: 'error', code: 'server_busy' }, `login hook ${bad}, closed: refused`);
    refused.c.close();
    const guest = await attempt(wsConnect(open.url), { name: `Guest ${bad}` }, 'site=s-ada');
    t.match(guest.reply, { cmd: 'login', user: { name: `Guest ${bad}` } }, `login hook ${bad}, open: a guest login`);
    guest.c.close();
  }
  app.misbehave.login = undefined;
  const ada = (await attempt(wsConnect(closed.url), { name: 'Ada' }, 'site=s-ada')).c;
  const adaOpen = (await attempt(wsConnect(open.url), { name: 'Ada' }, 'site=s-ada')).c;
  app.misbehave.publish = 'error';
  ada.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'darn', cid: 'p1' });
  t.match(await ada.next('error'), { code: 'server_busy', ref: 'p1' }, 'publish hook failing, closed: server_busy (the client sends it again)');
  adaOpen.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'darn', cid: 'p1' });
  t.match(await adaOpen.next('ack'), { cid: 'p1', offset: 1 }, 'publish hook failing, open: stored as sent');
  app.misbehave.publish = undefined;
  ada.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'darn', cid: 'p1' });
  ada.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'darn', cid: 'p1' });
  const acks = [await ada.next('ack'), await ada.next('ack')];
  t.same(acks.map((a) => [a.cid, a.offset]), [['p1', 1], ['p1', 1]], 'the resent message is stored once');
  const history = await closed.server.store.history('room:lobby', undefined, 10);
  t.same(history.messages.map((m) => m.body), ['d**n'], 'filtered, once');
  const calls = app.calls.filter((c) => c.hook === 'publish').length;
  adaOpen.send({ cmd: 'send', to: { user: 'ada-42' }, type: 'text', body: 'darn note', cid: 'n1' });
  t.match(await adaOpen.next('ack'), { cid: 'n1' });
  t.equal(app.calls.filter((c) => c.hook === 'publish').length, calls, '--hook-publish-on room: private messages are not asked about');
  const metrics = await (await fetch(`${closed.url}/metrics`)).text();
  for (const kind of ['timeout', 'status', 'garbage']) t.match(metrics, new RegExp(`webim_hook_failures_total\\{hook="login",kind="${kind}"\\} [1-9]`), `login ${kind} counted`);
  t.match(metrics, /webim_hook_seconds_count\{hook="publish"\} [1-9]/, 'call times measured');
  ada.close();
  adaOpen.close();
});

t.test('offline events: retried until taken, and the queue is bounded', async (t) => {
  const app = await startHookApp(t);
  app.sessions.set('s-ada', { id: 'ada-42', name: 'Ada' });
  app.sessions.set('s-bob', { id: 'bob-7', name: 'Bob' });
  const s = await withHooks(t, app, { hookOfflineQueue: 2 });
  const bob = await attempt(wsConnect(s.url), { name: 'x' }, 'site=s-bob');
  bob.c.close();
  await until(() => !s.server.hub.cluster.isOnline('bob-7'), 'Bob offline');
  const ada = (await attempt(wsConnect(s.url), { name: 'x' }, 'site=s-ada')).c;
  app.failOffline = 2;
  ada.send({ cmd: 'send', to: { user: 'bob-7' }, type: 'text', body: 'first', cid: 'f1' });
  await until(() => app.calls.some((c) => c.hook === 'offline'), 'the event, after two failures and their retries');
  t.equal(app.calls.filter((c) => c.hook === 'offline').length, 1, 'taken once');
  app.misbehave.offline = 'slow';
  for (let i = 0; i < 8; i++) ada.send({ cmd: 'send', to: { user: 'bob-7' }, type: 'text', body: `m${i}`, cid: `m${i}` });
  await until(() => s.server.hub.hooks.stats.offlineDropped > 0, 'a drop');
  t.ok(s.server.hub.hooks.stats.offlineQueued <= 2, `at most 2 waiting (${s.server.hub.hooks.stats.offlineQueued})`);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  t.match(metrics, /webim_hook_offline_dropped_total [1-9]/);
  ada.close();
});

t.test('a hook without --hook-secret does not start', async (t) => {
  await t.rejects(startServer({ hookUrl: 'http://127.0.0.1:9/hooks' }), /--hook-secret/);
});

t.test('two nodes: each asks the app, and a private message for someone offline is told once', async (t) => {
  const app = await startHookApp(t);
  app.sessions.set('s-ada', { id: 'ada-42', name: 'Ada' });
  app.sessions.set('s-bob', { id: 'bob-7', name: 'Bob' });
  const cluster = await startCluster(t, 2, ['--hook-url', app.url, '--hook-secret', app.secret]);
  if (!cluster) return;
  const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
  const bob = await attempt(wsConnect(b.url), { name: 'x' }, 'site=s-bob');
  t.match(bob.reply, { cmd: 'login', user: { id: 'bob-7' } }, 'node B asks the app');
  const ada = await attempt(wsConnect(a.url), { name: 'x' }, 'site=s-ada');
  t.match(ada.reply, { cmd: 'login', user: { id: 'ada-42' } }, 'node A too');
  ada.c.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'darn, two nodes', cid: 'c1' });
  t.match(await bob.c.next((m) => m.cmd === 'message' && m.cid === 'c1'), { body: 'd**n, two nodes' }, 'filtered on A, delivered on B');
  bob.c.close();
  await ada.c.next((m) => m.cmd === 'presence' && m.event === 'offline');
  ada.c.send({ cmd: 'send', to: { user: 'bob-7' }, type: 'text', body: 'later', cid: 'c2' });
  await until(() => app.calls.some((c) => c.hook === 'offline'), 'the offline event');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(app.calls.filter((c) => c.hook === 'offline').length, 1, 'told once, by the node that stored it');
  const back = await loginOn(t, b.url, 'x', { token: bob.reply.token });
  t.equal((await back.c.next((m) => m.cmd === 'message' && m.cid === 'c2')).body, 'later', 'and the message waits for him');
  ada.c.close();
});
