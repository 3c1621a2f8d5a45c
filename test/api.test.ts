/**
 * The server API on one node (docs/api.md): its keys, every route as the
 * chat clients see its effect, idempotency, bad input that stores nothing,
 * the OpenAPI document (checked by @seriousme/openapi-schema-validator and
 * against the route table of docs/api.md), and the example backends in
 * PHP and Node. One server for the file; the same on two nodes:
 * api-cluster.test.ts.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import t from 'tap';
import { defaultConfig, ConfigError } from '../src/config.js';
import { publishCid } from '../src/core/api.js';
import { createServer } from '../src/server.js';
import { ADMIN_TOKEN, API_KEY, apiClient, exampleRound, havePhp } from './helpers/api.js';
import type { Msg } from './helpers/client.js';
import { cometConnect } from './helpers/comet-client.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login, sendText } from './scenarios/chat.js';

const SECRET = 'api-test-token-secret-0123456789';
const s = await startServer({ apiKey: API_KEY, adminToken: ADMIN_TOKEN, tokenSecret: SECRET });
t.teardown(() => s.close());
const call = apiClient(s.url);
const isMsg = (body: string) => (m: Msg) => m.cmd === 'message' && m.body === body;
const historyOf = async (channel: string): Promise<Msg[]> => (await call('GET', `/api/history?channel=${encodeURIComponent(channel)}&limit=100`)).body.messages as Msg[];

const { c: ann, me: annMe } = await login(wsConnect(s.url), 'Ann');
const { c: bob } = await login(cometConnect(s.url, 'json'), 'Bob');
t.teardown(() => {
  ann.close();
  bob.close();
});

t.test('keys: off without any, 401 without the right one, the admin token only on admin routes', async (t) => {
  const off = await startServer();
  t.teardown(() => off.close());
  for (const path of ['/api/rooms', '/api/presence', '/admin/api/rooms']) {
    t.match(await apiClient(off.url)('GET', path), { status: 404, body: { error: 'not_found' } }, `off: ${path}`);
  }
  t.match(await call('GET', '/api/presence', undefined, null), { status: 401, body: { error: 'unauthorized' } }, 'no key');
  t.match((await call('GET', '/api/presence', undefined, null)).headers.get('www-authenticate'), /^Bearer /);
  t.equal((await call('GET', '/api/presence', undefined, API_KEY.slice(0, -1))).status, 401, 'a prefix of the key is not it');
  t.equal((await call('GET', '/api/rooms', undefined, 'x'.repeat(300))).status, 401);
  for (const [method, path, body] of [['POST', '/api/publish', { to: { room: 'lobby' }, body: 'as admin?' }], ['GET', '/api/history?channel=room:lobby'], ['GET', '/api/presence'], ['POST', '/api/users/ann/disconnect', {}]] as const) {
    t.match(await call(method, path, body, ADMIN_TOKEN), { status: 403, body: { error: 'forbidden' } }, `the admin token cannot ${method} ${path}`);
  }
  t.equal((await call('GET', '/api/rooms', undefined, ADMIN_TOKEN)).status, 200, 'the admin token opens the admin routes');
  t.equal((await call('GET', '/api/rooms')).status, 200, 'and so does the API key');
  t.equal((await call('GET', '/admin/api/rooms', undefined, ADMIN_TOKEN)).status, 200, 'under their first prefix too');
  t.notOk((await historyOf('room:lobby')).some((m) => m.body === 'as admin?'), 'the refused publish stored nothing');
  await t.rejects(createServer(defaultConfig({ store: 'memory', apiKey: API_KEY, adminToken: API_KEY })), ConfigError, 'one key for both is refused before anything starts');
});

t.test('publish to a room as System and as a user: stored, acked, delivered, paged, resumed', async (t) => {
  const sys = await call('POST', '/api/publish', { to: { room: 'lobby' }, body: 'from the site' });
  t.match(sys, { status: 200, body: { duplicate: false, message: { channel: 'room:lobby', from: { id: 'system', name: 'System' }, type: 'text', body: 'from the site' } } });
  const message = sys.body.message as Msg;
  for (const c of [ann, bob]) t.match(await c.next(isMsg('from the site')), { id: message.id, offset: message.offset, cid: message.cid }, 'each member gets it as acked');

  const asAnn = await call('POST', '/api/publish', { to: { room: 'lobby' }, from: 'ann', type: 'emoji', body: 'smile' });
  t.match(asAnn.body, { message: { from: { id: 'ann', name: 'Ann', avatar: (annMe.user as Msg).avatar }, type: 'emoji', offset: (message.offset as number) + 1 } });
  t.match(await ann.next((m) => m.cmd === 'message' && m.type === 'emoji'), { from: { id: 'ann' } }, "Ann's own connections get it, as her own sends");
  await bob.next((m) => m.cmd === 'message' && m.type === 'emoji');

  const page = (await call('GET', `/api/history?channel=room:lobby&before=${(message.offset as number) + 1}&limit=1`)).body;
  t.match(page, { channel: 'room:lobby', messages: [{ id: message.id }], more: (message.offset as number) > 1 }, 'paged as the protocol pages');
  // A client that saw nothing since the offset before resumes and gets both.
  const { c: back } = await login(wsConnect(s.url), 'Ann', { token: annMe.token, resume: { cursors: { 'room:lobby': (message.offset as number) - 1 } } });
  t.teardown(() => back.close());
  t.same([(await back.next('message')).id, (await back.next('message')).from], [message.id, { id: 'ann', name: 'Ann', avatar: (asAnn.body.message as { from: { avatar: string } }).from.avatar }], 'resume replays them');

  t.match(await call('POST', '/api/publish', { to: { room: 'nowhere' }, body: 'x' }), { status: 404, body: { error: 'not_found' } }, 'an unknown room');
  t.match(await call('POST', '/api/publish', { to: { room: 'lobby' }, from: 'nobody-ever', body: 'x' }), { status: 404, body: { error: 'not_found' } }, 'as a user who never logged in');
  t.equal((await call('POST', '/api/rooms', { name: 'quiet', membersOnly: true })).status, 201);
  t.match(await call('POST', '/api/publish', { to: { room: 'quiet' }, from: 'ann', body: 'x' }), { status: 403, body: { error: 'forbidden' } }, 'as a user, only where the user may write');
  t.equal((await call('POST', '/api/publish', { to: { room: 'quiet' }, body: 'the system writes anywhere' })).status, 200);
});

t.test('publish to a user: both sides, and offline messages', async (t) => {
  const dm = await call('POST', '/api/publish', { to: { user: 'bob' }, from: 'ann', body: 'psst' });
  t.match(dm.body, { message: { channel: 'dm:ann:bob', from: { id: 'ann' } } });
  t.match(await bob.next(isMsg('psst')), { id: (dm.body.message as Msg).id });
  await ann.next(isMsg('psst'));
  const { c: cid, me } = await login(wsConnect(s.url), 'Cid');
  cid.close();
  await cid.closed;
  t.equal((await call('POST', '/api/publish', { to: { user: 'cid' }, body: 'while you were out' })).status, 200);
  const { c: again } = await login(wsConnect(s.url), 'Cid', { token: me.token });
  t.teardown(() => again.close());
  t.match(await again.next(isMsg('while you were out')), { channel: 'dm:cid:system', from: { id: 'system' } }, 'an offline user gets it at the next login');
  t.match(await call('POST', '/api/publish', { to: { user: 'no-such-user' }, body: 'x' }), { status: 404 }, 'an unknown user');
  t.match(await call('POST', '/api/publish', { to: { user: 'system' }, body: 'x' }), { status: 404 }, 'System takes no private messages');
});

t.test('idempotency: a retried call stores once per channel', async (t) => {
  const body = { to: { room: 'lobby' }, body: 'only once', idempotencyKey: 'order-7-shipped' };
  const [a, b] = await Promise.all([call('POST', '/api/publish', body), call('POST', '/api/publish', body)]);
  const c = await call('POST', '/api/publish', body);
  const first = a.body.message as Msg;
  t.same([b.body.message, c.body.message].map((m) => (m as Msg).id), [first.id, first.id], 'the same message every time');
  t.same([a.body.duplicate, b.body.duplicate, c.body.duplicate].filter(Boolean).length, 2, 'two of three were repeats');
  await ann.next(isMsg('only once'));
  t.ok(await ann.quiet(isMsg('only once'), 300), 'delivered once');
  t.equal((await historyOf('room:lobby')).filter((m) => m.body === 'only once').length, 1, 'stored once');
  const other = await call('POST', '/api/publish', { ...body, to: { user: 'ann' } });
  t.not((other.body.message as Msg).id, first.id, 'the same key in another channel is another message');

  // A client that picked the cid a key would get elsewhere cannot make the API answer with its message.
  ann.send({ cmd: 'send', to: { user: 'bob' }, type: 'text', body: 'mine', cid: publishCid('room:lobby', 'clash') });
  await ann.next('ack');
  const clash = await call('POST', '/api/publish', { to: { room: 'lobby' }, from: 'ann', body: 'x', idempotencyKey: 'clash' });
  t.match(clash, { status: 409, body: { error: 'conflict' } });
});

t.test('broadcast: one call, each channel once, all targets checked first', async (t) => {
  const before = (await historyOf('room:lobby')).length;
  const bad = await call('POST', '/api/broadcast', { to: [{ room: 'lobby' }, { user: 'nobody-at-all' }], body: 'to all', idempotencyKey: 'b1' });
  t.match(bad, { status: 404, body: { error: 'not_found' } });
  t.equal((await historyOf('room:lobby')).length, before, 'an unknown target stores nothing anywhere');
  const req = { to: [{ room: 'lobby' }, { user: 'ann' }, { user: 'bob' }], body: 'to all', idempotencyKey: 'b1' };
  const ok = await call('POST', '/api/broadcast', req);
  const results = ok.body.results as Array<{ message: Msg; duplicate: boolean }>;
  t.same(results.map((r) => [r.message.channel, r.duplicate]), [['room:lobby', false], ['dm:ann:system', false], ['dm:bob:system', false]]);
  const retry = await call('POST', '/api/broadcast', req);
  t.same((retry.body.results as typeof results).map((r) => [r.message.id, r.duplicate]), results.map((r) => [r.message.id, true]), 'retried: the same messages');
  for (const channel of ['room:lobby', 'dm:ann:system', 'dm:bob:system']) t.equal((await historyOf(channel)).filter((m) => m.body === 'to all').length, 1, `${channel} once`);
  const got: string[] = [];
  while (got.length < 2) got.push((await bob.next(isMsg('to all'))).channel as string);
  t.same(got.sort(), ['dm:bob:system', 'room:lobby'], 'Bob gets the room and his own');
  t.ok(await bob.quiet(isMsg('to all'), 300), 'and nothing twice');
  t.match(await call('POST', '/api/broadcast', { to: [{ room: 'lobby' }, { room: 'lobby' }], body: 'x' }), { status: 400, body: { field: 'to' } }, 'a target twice');
});

t.test('history, presence and counts', async (t) => {
  t.match(await call('GET', '/api/history?channel=room:nowhere'), { status: 404 });
  t.match(await call('GET', '/api/history?channel=lobby'), { status: 400, body: { error: 'bad_request' } });
  t.match(await call('GET', '/api/history?channel=room:lobby&limit=101'), { status: 400, body: { field: 'limit' } });
  t.match(await call('GET', '/api/history?channel=dm:ann:bob'), { status: 200, body: { messages: [{ body: 'psst' }], more: false } }, 'any private channel: the backend is trusted');
  const everyone = (await call('GET', '/api/presence')).body.users as Array<{ id: string }>;
  t.same(everyone.map((u) => u.id), ['ann', 'bob'], 'everyone online, in id order');
  t.match(await call('GET', '/api/presence?room=quiet'), { status: 200, body: { room: 'quiet', users: [] } });
  t.match(await call('GET', '/api/presence?room=nowhere'), { status: 404 });
  const counts = (await call('GET', '/api/presence/counts')).body;
  t.match(counts, { users: 2, rooms: [{ name: 'lobby', users: 2 }, { name: 'quiet', users: 0 }] });
});

t.test('disconnect: bye with the reason, reconnect or not, on every connection', async (t) => {
  const { c: dee, me } = await login(wsConnect(s.url), 'Dee');
  const { c: dee2 } = await login(cometConnect(s.url, 'json'), 'Dee', { token: me.token });
  const gone = await call('POST', '/api/users/dee/disconnect', { reason: 'Your plan changed' });
  t.match(gone, { status: 200, body: { ok: true, user: 'dee', code: 'disconnected', reconnect: false } });
  for (const c of [dee, dee2]) t.match(await c.next('bye'), { code: 'disconnected', reason: 'Your plan changed', reconnect: false });
  t.equal(await dee.closed, 4002, 'WebSocket close 4002');
  const { c: eve } = await login(wsConnect(s.url), 'Eve');
  t.match((await call('POST', '/api/users/eve/disconnect', { reconnect: true })).body, { code: 'force_reconnect', reconnect: true });
  t.match(await eve.next('bye'), { code: 'force_reconnect', reconnect: true });
  t.equal(await eve.closed, 4003);
  t.match(await call('POST', '/api/users/eve/disconnect'), { status: 404, body: { error: 'not_found' } }, 'not online any more (and no body is fine)');
  t.match(await call('POST', '/api/users/ann/disconnect', { reason: 'bell\u0007' }), { status: 400 }, 'a reason is text');
});

t.test('bad input: 400 naming the field, bad JSON, 413, and nothing stored or doubled', async (t) => {
  const before = (await historyOf('room:lobby')).length;
  const cases: Array<[unknown, string]> = [
    [{ to: { room: 'Lobby!' }, body: 'x' }, 'to.room'],
    [{ to: { room: 'lobby' }, body: 5 }, 'body'],
    [{ to: { room: 'lobby' } }, 'body'],
    [{ to: { room: 'lobby', user: 'ann' }, body: 'x' }, 'to'],
    [{ to: { room: 'lobby' }, body: 'x', idempotency_key: 'k' }, 'idempotency_key'],
    [{ to: { room: 'lobby' }, body: 'x', type: 'video' }, 'type'],
    [{ to: { room: 'lobby' }, body: 'x', from: 'a b' }, 'from'],
    [[1, 2], 'body'],
  ];
  for (const [body, field] of cases) t.match(await call('POST', '/api/publish', body), { status: 400, body: { error: 'bad_request', field } }, `names ${field}: ${JSON.stringify(body)}`);
  t.match(await call('POST', '/api/publish', { to: { room: 'lobby' }, body: '   ' }), { status: 400, body: { error: 'bad_request' } }, 'a blank text');
  t.match(await call('POST', '/api/publish', { to: { room: 'lobby' }, body: 'x'.repeat(5000) }), { status: 413, body: { error: 'too_large' } }, 'over --max-text-length');
  const raw = (text: string) => fetch(`${s.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: text });
  const badJson = await raw('{"to":');
  t.same([badJson.status, ((await badJson.json()) as { error: string }).error], [400, 'bad_json']);
  const huge = await raw(JSON.stringify({ to: { room: 'lobby' }, body: 'x'.repeat(70000) }));
  t.same([huge.status, ((await huge.json()) as { error: string }).error], [413, 'too_large'], 'a body over --max-message-size');
  t.match(await call('GET', '/api/nothing-here'), { status: 404, body: { error: 'not_found' } });
  t.equal((await historyOf('room:lobby')).length, before, 'none of it stored a message');
  t.ok(await ann.quiet((m) => m.cmd === 'message' && /^(x+| +)$/.test(m.body as string), 200), 'nor delivered one');
});

t.test('the OpenAPI document: valid, and every route of docs/api.md in it', async (t) => {
  const res = await fetch(`${s.url}/api/openapi.json`);
  t.equal(res.status, 200, 'served without a key');
  const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
  const result = await new Validator().validate(doc);
  t.same(result, { valid: true }, 'a valid OpenAPI 3 document');
  const inDoc = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  const md = readFileSync(fileURLToPath(new URL('../../docs/api.md', import.meta.url)), 'utf8');
  const inMd = [...new Set([...md.matchAll(/^\| `(GET|POST|DELETE) (\/api\/[^`]+)`/gm)].map((m) => `${m[1]} ${(m[2] as string).replace(/:(\w+)/g, '{$1}')}`))].sort();
  t.ok(inMd.length >= 15, `${inMd.length} routes in docs/api.md`);
  t.same(inDoc, inMd, 'the document and docs/api.md list the same routes');
  for (const op of inDoc) {
    const [method, path] = op.split(' ') as [string, string];
    const a = await call(method, path.replace('{name}', 'nowhere').replace('{user}', 'nobody').replace('{id}', 'nobody'), method === 'GET' || method === 'DELETE' ? undefined : {});
    t.not(a.body.message, 'no such route of the server API', `${op} is served`);
  }
});

t.test('the example backends, PHP and Node, against this server', async (t) => {
  if (havePhp(t)) await exampleRound(t, 'php', { apiUrl: s.url, chatUrl: s.url, secret: SECRET }, 'U1001');
  await exampleRound(t, 'node', { apiUrl: s.url, chatUrl: s.url, secret: SECRET }, 'U1002');
});

t.test('a member sends as before while the API is in use', async (t) => {
  sendText(ann, { room: 'lobby' }, 'still chatting');
  t.equal((await ann.next('ack')).cmd, 'ack');
});
