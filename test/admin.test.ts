/**
 * The admin routes of the server API (`/api/`, docs/api.md) with the admin
 * token: off without a key, 401 without the right one, and with it: rooms
 * (members-only included), kicks and notices, as the chat clients over
 * WebSocket and Comet see them; and under their first prefix, /admin/api.
 */
import { parse } from 'acorn';
import t, { type Test } from 'tap';
import type { ChatClient, Msg } from './helpers/client.js';
import { cometConnect } from './helpers/comet-client.js';
import { startServer, type TestServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { cid, login, sendText } from './scenarios/chat.js';

const TOKEN = 'admin-test-token-4f9c2a7e1b3d5c6a';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function api(s: TestServer, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${s.url}/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function withAdmin(t: Test): Promise<TestServer> {
  const s = await startServer({ adminToken: TOKEN });
  t.teardown(() => s.close());
  return s;
}

/** Sends and waits for the answer: the ack, or the error that names this cid or command. */
async function trySend(c: ChatClient, room: string, body: string): Promise<Msg> {
  const id = sendText(c, { room }, body);
  return c.next((m) => (m.cmd === 'ack' || m.cmd === 'error') && (m.cid === id || m.ref === id));
}

function roomNames(a: Answer): string[] {
  return (a.body.rooms as Array<{ name: string }>).map((r) => r.name);
}

t.test('without a configured key the API is off', async (t) => {
  const s = await startServer();
  t.teardown(() => s.close());
  for (const [method, path] of [['GET', '/rooms'], ['POST', '/users/alice/kick'], ['GET', '/users']] as const) {
    const a = await api(s, method, path, undefined, 'anything-at-all-0000');
    t.equal(a.status, 404, `${method} ${path}`);
    t.equal(a.body.error, 'not_found');
  }
  // The page is static and always there; it only works against a server with a token.
  t.equal((await fetch(`${s.url}/admin.html`).then(async (r) => [r.status, await r.text()]))[0], 200);
});

t.test('a missing or wrong token gets 401, the right one works', async (t) => {
  const s = await withAdmin(t);
  const none = await api(s, 'GET', '/rooms', undefined, null);
  t.equal(none.status, 401);
  t.equal(none.body.error, 'unauthorized');
  t.match(none.headers.get('www-authenticate'), /^Bearer /);
  t.equal((await api(s, 'GET', '/rooms', undefined, 'wrong-token-of-any-length')).status, 401);
  t.equal((await api(s, 'GET', '/rooms', undefined, TOKEN.slice(0, -1))).status, 401, 'a prefix of the token is not it');
  const basic = await fetch(`${s.url}/api/rooms`, { headers: { authorization: `Basic ${TOKEN}` } });
  t.equal(basic.status, 401, 'only the Bearer scheme');
  await basic.text();
  t.equal((await api(s, 'POST', '/rooms', { name: 'sneaky' }, null)).status, 401, 'nothing happens without the token');
  const ok = await api(s, 'GET', '/rooms');
  t.equal(ok.status, 200);
  t.same(roomNames(ok), ['lobby'], 'the sneaky room was not created');
  const unknown = await api(s, 'GET', '/no-such-thing');
  t.same([unknown.status, unknown.body.error], [404, 'not_found'], 'an unknown route is a JSON 404');
  // Scripts written for the admin API before /api/ keep working, with the same keys and answers.
  const old = await fetch(`${s.url}/admin/api/rooms`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.same([old.status, ((await old.json()) as { rooms: unknown[] }).rooms.length], [200, 1], 'the first prefix answers too');
  const oldWrong = await fetch(`${s.url}/admin/api/rooms`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-0000000000' } });
  t.equal(oldWrong.status, 401, 'and checks the token there too');
  await oldWrong.text();
});

t.test('rooms: create, refuse duplicates and bad input, delete', async (t) => {
  const s = await withAdmin(t);
  const created = await api(s, 'POST', '/rooms', { name: 'ops', title: 'Operations' });
  t.equal(created.status, 201);
  t.match(created.body.room, { name: 'ops', title: 'Operations', membersOnly: false, online: 0 });
  t.same(roomNames(await api(s, 'GET', '/rooms')), ['lobby', 'ops']);
  const again = await api(s, 'POST', '/rooms', { name: 'ops' });
  t.same([again.status, again.body.error], [409, 'conflict']);
  t.same([(await api(s, 'POST', '/rooms', { name: 'Not Valid' })).body.error], ['bad_request']);
  t.equal((await api(s, 'POST', '/rooms', { name: 'ok', membersOnly: 'yes' })).status, 400);
  t.equal((await api(s, 'POST', '/rooms', { name: 'ok', title: ' ' })).status, 400);
  const badJson = await fetch(`${s.url}/api/rooms`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: '{"name":',
  });
  t.same([badJson.status, ((await badJson.json()) as { error: string }).error], [400, 'bad_json']);
  const lobby = await api(s, 'DELETE', '/rooms/lobby');
  t.same([lobby.status, lobby.body.error], [403, 'forbidden']);
  t.same([(await api(s, 'DELETE', '/rooms/nowhere')).status], [404]);

  // A member online is told; the room leaves the directory of later logins.
  const { c: ann } = await login(wsConnect(s.url), 'Ann');
  t.teardown(() => ann.close());
  ann.send({ cmd: 'join', room: 'ops' });
  await ann.next('joined');
  const deleted = await api(s, 'DELETE', '/rooms/ops');
  t.match(deleted, { status: 200, body: { ok: true, room: 'ops', notified: 1 } });
  t.match(await ann.next('left'), { room: 'ops', reason: 'deleted' });
  t.same((await trySend(ann, 'ops', 'anyone?')).code, 'not_found', 'a deleted room takes no messages');
  t.same(roomNames(await api(s, 'GET', '/rooms')), ['lobby']);
  const { me } = await login(wsConnect(s.url), 'Ben');
  t.notOk((me.rooms as Array<{ name: string }>).some((r) => r.name === 'ops'), 'not in the directory');
});

t.test('members-only rooms: non-members are refused until the admin adds them', async (t) => {
  const s = await withAdmin(t);
  t.equal((await api(s, 'POST', '/rooms', { name: 'staff', title: 'Staff', membersOnly: true })).status, 201);
  const { c: mia } = await login(wsConnect(s.url), 'Mia');
  t.teardown(() => mia.close());
  mia.send({ cmd: 'join', room: 'staff' });
  t.match(await mia.next('error'), { code: 'forbidden', ref: 'join' });
  t.equal((await trySend(mia, 'staff', 'let me in')).code, 'forbidden');
  mia.send({ cmd: 'history', channel: 'room:staff' });
  t.match(await mia.next('error'), { code: 'forbidden', ref: 'history' });
  mia.send({ cmd: 'online', room: 'staff' });
  t.match(await mia.next('error'), { code: 'forbidden', ref: 'online' }, 'who is in the room is for members too');

  const added = await api(s, 'POST', '/rooms/staff/members', { user: 'mia' });
  t.match(added, { status: 200, body: { ok: true, room: 'staff', user: 'mia', online: true } });
  t.match(await mia.next((m) => m.cmd === 'presence' && m.event === 'join'), { room: 'staff', user: { id: 'mia' } }, 'she is in, as if she joined from another device');
  t.equal((await trySend(mia, 'staff', 'hello staff')).cmd, 'ack');

  // A user who never logged in can be added ahead; they are in the room at their first login.
  t.match(await api(s, 'POST', '/rooms/staff/members', { user: 'noah' }), { status: 200, body: { online: false } });
  const { c: noah, me } = await login(cometConnect(s.url, 'json'), 'Noah');
  t.teardown(() => noah.close());
  t.ok((me.joined as string[]).includes('staff'), 'joined lists the room');
  noah.send({ cmd: 'history', channel: 'room:staff' });
  t.match(await noah.next('history'), { messages: [{ body: 'hello staff' }] });
  noah.send({ cmd: 'online', room: 'staff' });
  const list = (await noah.next('online')).users as Array<{ id: string }>;
  t.same(list.map((u) => u.id).sort(), ['mia', 'noah'], 'a member lists the members online');

  t.equal((await api(s, 'POST', '/rooms/staff/members', { user: 'bad id' })).status, 400);
  t.equal((await api(s, 'POST', '/rooms/staff/members', { user: 'nul\u0000id' })).status, 400, 'no store takes a NUL');
  t.equal((await api(s, 'POST', '/rooms/nowhere/members', { user: 'mia' })).status, 404);
  t.equal((await api(s, 'POST', '/rooms/staff/members', {})).status, 400);

  const removed = await api(s, 'DELETE', '/rooms/staff/members/mia');
  t.equal(removed.status, 200);
  t.match(await mia.next('left'), { room: 'staff', reason: 'removed' });
  t.match(await noah.next((m) => m.cmd === 'presence' && m.event === 'leave'), { room: 'staff', user: { id: 'mia' } });
  t.equal((await trySend(mia, 'staff', 'still here?')).code, 'forbidden');
  mia.send({ cmd: 'join', room: 'staff' });
  t.match(await mia.next('error'), { code: 'forbidden', ref: 'join' }, 'and cannot join back');
  mia.send({ cmd: 'online', room: 'staff' });
  t.match(await mia.next('error'), { code: 'forbidden', ref: 'online' }, 'nor see who is in it while Noah is');
  mia.send({ cmd: 'online', room: 'lobby' });
  t.match(await mia.next('online'), { room: 'lobby' }, 'an open room lists its members to anyone');
});

t.test('kick: every connection gets bye kicked and the user goes offline', async (t) => {
  const s = await withAdmin(t);
  const { c: kim1, me } = await login(wsConnect(s.url), 'Kim');
  const { c: kim2 } = await login(cometConnect(s.url, 'json'), 'Kim', { token: me.token });
  const { c: watcher } = await login(wsConnect(s.url), 'Watcher');
  t.teardown(() => watcher.close());
  const users = await api(s, 'GET', '/users');
  const kim = (users.body.users as Array<{ id: string; connections: Array<{ transport: string }> }>).find((u) => u.id === 'kim');
  t.same(kim?.connections.map((c) => c.transport).sort(), ['comet', 'websocket'], 'the list shows each connection');

  const kicked = await api(s, 'POST', '/users/kim/kick');
  t.match(kicked, { status: 200, body: { ok: true, user: 'kim', connections: 2 } });
  for (const c of [kim1, kim2]) t.match(await c.next('bye'), { code: 'kicked', reconnect: false });
  t.equal(await kim1.closed, 4001, 'the WebSocket closes with 4001');
  await kim2.closed;
  t.match(await watcher.next((m) => m.cmd === 'presence' && m.event === 'offline'), { user: { id: 'kim' } });
  t.notOk((((await api(s, 'GET', '/users')).body.users) as Array<{ id: string }>).some((u) => u.id === 'kim'), 'offline');
  t.same([(await api(s, 'POST', '/users/kim/kick')).status], [404], 'kicking who is not online is not_found');

  // Nothing is banned: the guest may come back (with her token: her name is held for her).
  const { c: back } = await login(wsConnect(s.url), 'Kim', { token: me.token });
  t.teardown(() => back.close());
  t.pass('a kicked guest may log in again');
});

t.test('notice: a stored message from System reaches the members', async (t) => {
  const s = await withAdmin(t);
  const { c: ws } = await login(wsConnect(s.url), 'Una');
  const { c: comet } = await login(cometConnect(s.url, 'jsonp'), 'Vic');
  t.teardown(() => {
    ws.close();
    comet.close();
  });
  sendText(ws, { room: 'lobby' }, 'before the notice', cid());
  await ws.next('ack');
  const sent = await api(s, 'POST', '/rooms/lobby/notice', { text: 'Maintenance at 22:00' });
  t.equal(sent.status, 201);
  const stored = sent.body.message as Msg;
  t.match(stored, { channel: 'room:lobby', offset: 2, from: { id: 'system', name: 'System' }, type: 'text', body: 'Maintenance at 22:00' });
  for (const c of [ws, comet]) {
    t.match(await c.next((m) => m.cmd === 'message' && m.from !== undefined && (m.from as { id: string }).id === 'system'), { id: stored.id, body: 'Maintenance at 22:00', offset: 2 });
  }
  ws.send({ cmd: 'history', channel: 'room:lobby' });
  t.match((await ws.next('history')).messages, [{ body: 'before the notice' }, { body: 'Maintenance at 22:00' }], 'it is in the history');

  t.same([(await api(s, 'POST', '/rooms/lobby/notice', { text: '   ' })).body.error], ['bad_request']);
  const long = await api(s, 'POST', '/rooms/lobby/notice', { text: 'x'.repeat(5000) });
  t.same([long.status, long.body.error], [413, 'too_large']);
  t.same([(await api(s, 'POST', '/rooms/nowhere/notice', { text: 'hi' })).status], [404]);
});

t.test('no guest can log in as System', async (t) => {
  const s = await withAdmin(t);
  for (const name of ['System', 'system', 'SYSTEM']) {
    const c = await wsConnect(s.url)();
    t.teardown(() => c.close());
    c.send({ cmd: 'login', name });
    t.match(await c.next('error'), { code: 'name_taken', ref: 'login' }, name);
  }
  const { c } = await login(wsConnect(s.url), 'Zed');
  t.teardown(() => c.close());
  t.equal((await trySend(c, 'lobby', 'fine')).cmd, 'ack');
  c.send({ cmd: 'send', to: { user: 'system' }, type: 'text', body: 'hello?', cid: 'to-system' });
  t.match(await c.next('error'), { code: 'not_found', ref: 'to-system' }, 'System takes no private messages');
});

t.test('the admin page is served, is ES3, and its script finds every element it uses', async (t) => {
  const s = await startServer();
  t.teardown(() => s.close());
  const [html, js] = await Promise.all(['admin.html', 'admin.js'].map(async (f) => {
    const res = await fetch(`${s.url}/${f}`);
    t.equal(res.status, 200, f);
    return res.text();
  }));
  t.doesNotThrow(() => parse(js ?? '', { ecmaVersion: 3 }), 'admin.js parses as ES3 (old IE)');
  const ids = new Set([...(html ?? '').matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]));
  const used = [...(js ?? '').matchAll(/byId\('([^']+)'\)/g)].map((m) => m[1] as string);
  t.ok(used.length > 10, `${used.length} lookups`);
  t.same(used.filter((id) => !ids.has(id)), [], 'every byId has its element');
  t.notMatch(js, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write/, 'server data never goes in as HTML');
});
