/**
 * The server API on two nodes (real processes sharing Redis and
 * PostgreSQL): every route called on node A acts on users logged in on
 * node B, a retried publish on the other node is still stored once, and
 * the example backends (PHP and Node) call node A for a user on node B.
 */
import t from 'tap';
import { ADMIN_TOKEN, API_KEY, apiClient, exampleRound, havePhp } from './helpers/api.js';
import type { ChatClient, Msg } from './helpers/client.js';
import { CLUSTER_SECRET, loginOn, startCluster } from './helpers/cluster.js';
import type { ServerProcess } from './helpers/process.js';

const cluster = await startCluster(t, 2, ['--api-key', API_KEY, '--admin-token', ADMIN_TOKEN]);
if (cluster !== undefined) {
  const [a, b] = cluster.nodes as [ServerProcess, ServerProcess];
  const onA = apiClient(a.url);
  const onB = apiClient(b.url);
  const isMsg = (body: string) => (m: Msg) => m.cmd === 'message' && m.body === body;
  const { c: bob, reply: bobLogin } = await loginOn(t, b.url, 'Bob');
  const { c: ada } = await loginOn(t, a.url, 'Ada');

  /** Until node A's view of the cluster has `id` online (the bus carries presence a moment later). */
  const seenOnA = async (id: string): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      const users = (await onA('GET', '/api/presence')).body.users as Array<{ id: string }>;
      if (users.some((u) => u.id === id)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${id} never showed on node A`);
  };
  await seenOnA('bob');

  t.test('publish on node A reaches node B; the retry on node B stores nothing new', async (t) => {
    const sent = await onA('POST', '/api/publish', { to: { room: 'lobby' }, body: 'across', idempotencyKey: 'x-1' });
    t.equal(sent.status, 200);
    const message = sent.body.message as Msg;
    t.match(await bob.next(isMsg('across')), { id: message.id, offset: message.offset }, 'a member on node B gets it as acked on A');
    const retry = await onB('POST', '/api/publish', { to: { room: 'lobby' }, body: 'across', idempotencyKey: 'x-1' });
    t.match(retry.body, { duplicate: true, message: { id: message.id } }, 'the same call on node B is a repeat');
    t.ok(await bob.quiet(isMsg('across'), 400), 'delivered once');

    const asBob = await onA('POST', '/api/publish', { to: { user: 'ada' }, from: 'bob', body: 'bob via A' });
    t.match(asBob.body, { message: { channel: 'dm:ada:bob', from: { id: 'bob', name: 'Bob' } } }, 'as a user online on the other node');
    await bob.next(isMsg('bob via A'));
    await ada.next(isMsg('bob via A'));
    const toBob = await onA('POST', '/api/publish', { to: { user: 'bob' }, body: 'for Bob on B' });
    t.match(await bob.next(isMsg('for Bob on B')), { id: (toBob.body.message as Msg).id, channel: 'dm:bob:system' });
  });

  t.test('broadcast from node A, history read on node B', async (t) => {
    const req = { to: [{ room: 'lobby' }, { user: 'bob' }], body: 'to both', idempotencyKey: 'bc-1' };
    const first = await onA('POST', '/api/broadcast', req);
    const results = first.body.results as Array<{ message: Msg }>;
    t.equal(results.length, 2);
    const got = [(await bob.next(isMsg('to both'))).channel, (await bob.next(isMsg('to both'))).channel].sort();
    t.same(got, ['dm:bob:system', 'room:lobby']);
    const again = await onB('POST', '/api/broadcast', req);
    t.same((again.body.results as Array<{ message: Msg; duplicate: boolean }>).map((r) => [r.message.id, r.duplicate]), results.map((r) => [r.message.id, true]));
    const page = await onB('GET', '/api/history?channel=room:lobby&limit=5');
    t.same((page.body.messages as Msg[]).slice(-2).map((m) => m.body), ['across', 'to both'], 'node B pages what node A stored');
  });

  t.test('presence and counts on node A include node B', async (t) => {
    t.same(((await onA('GET', '/api/presence')).body.users as Array<{ id: string }>).map((u) => u.id), ['ada', 'bob']);
    t.same(((await onA('GET', '/api/presence?room=lobby')).body.users as Array<{ id: string }>).map((u) => u.id), ['ada', 'bob']);
    t.match((await onA('GET', '/api/presence/counts')).body, { users: 2, rooms: [{ name: 'lobby', users: 2 }] });
    t.same(((await onB('GET', '/api/users', undefined, ADMIN_TOKEN)).body.users as Array<{ id: string }>).map((u) => u.id), ['bob'], '/api/users is the node\'s own');
  });

  t.test('rooms, members and notices from node A, seen on node B', async (t) => {
    t.equal((await onA('POST', '/api/rooms', { name: 'staff', membersOnly: true }, ADMIN_TOKEN)).status, 201);
    t.equal((await onA('POST', '/api/rooms/staff/members', { user: 'bob' })).status, 200);
    t.match(await bob.next((m) => m.cmd === 'presence' && m.event === 'join' && m.room === 'staff'), { user: { id: 'bob' } }, 'Bob is in the room on node B');
    const notice = await onA('POST', '/api/rooms/staff/notice', { text: 'staff only' });
    t.match(await bob.next(isMsg('staff only')), { id: (notice.body.message as Msg).id, from: { id: 'system' } });
    t.equal((await onA('DELETE', '/api/rooms/staff/members/bob')).status, 200);
    t.match(await bob.next((m) => m.cmd === 'left' && m.room === 'staff'), { reason: 'removed' });
    t.equal((await onA('DELETE', '/api/rooms/staff')).status, 200);
    t.notOk(((await onB('GET', '/api/rooms')).body.rooms as Array<{ name: string }>).some((r) => r.name === 'staff'), 'gone on node B');
  });

  t.test('disconnect and kick from node A end sessions on node B', async (t) => {
    const first = await onA('POST', '/api/users/bob/disconnect', { reason: 'profile changed', reconnect: true });
    t.match(first.body, { code: 'force_reconnect' });
    t.match(await bob.next('bye'), { code: 'force_reconnect', reason: 'profile changed', reconnect: true });
    t.equal(await bob.closed, 4003);
    const again: ChatClient = (await loginOn(t, b.url, 'Bob', { token: bobLogin.token })).c;
    await seenOnA('bob');
    t.equal((await onA('POST', '/api/users/bob/disconnect', { reason: 'account closed' })).status, 200);
    t.match(await again.next('bye'), { code: 'disconnected', reason: 'account closed', reconnect: false });
    const third = (await loginOn(t, b.url, 'Bob', { token: bobLogin.token })).c;
    await seenOnA('bob');
    t.equal((await onA('POST', '/api/users/bob/kick', undefined, ADMIN_TOKEN)).status, 200);
    t.match(await third.next('bye'), { code: 'kicked' });
    for (let i = 0; i < 100 && (await onA('POST', '/api/users/bob/disconnect')).status !== 404; i++) await new Promise((r) => setTimeout(r, 50));
    t.match(await onA('POST', '/api/users/bob/disconnect'), { status: 404 }, 'offline everywhere: not_found');
  });

  t.test('the example backends call node A for a user on node B', async (t) => {
    const site = { apiUrl: a.url, chatUrl: b.url, secret: CLUSTER_SECRET };
    if (havePhp(t)) await exampleRound(t, 'php', site, 'U3001');
    await exampleRound(t, 'node', site, 'U3002');
  });
}
