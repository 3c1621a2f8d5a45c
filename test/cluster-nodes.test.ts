/**
 * Three webim processes sharing Redis and one PostgreSQL database (issue
 * 9): users on different nodes chat in a room and in private (offline
 * messages too), see each other's presence, meet `name_taken` across
 * nodes and see one order of offsets; Comet and SockJS requests that land
 * on a node that does not hold their session fail as documented; a node
 * killed with kill -9 has its users reported offline by the others, and
 * their names freed, within --node-timeout plus --node-heartbeat.
 */
import { Redis } from 'ioredis';
import t from 'tap';
import type { ChatClient } from './helpers/client.js';
import { loginOn, names, startCluster, userName } from './helpers/cluster.js';
import { exited } from './helpers/process.js';

const cluster = await startCluster(t, 3);
if (cluster !== undefined) {
  const [n1, n2, n3] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]];

  t.test('presence, name_taken and the online list across three nodes', async (t) => {
    const ann = await loginOn(t, n1.url, 'Ann');
    const ben = await loginOn(t, n2.url, 'Ben');
    const cat = await loginOn(t, n3.url, 'Cat');
    t.same(names(cat.reply.online), ['Ann', 'Ben', 'Cat'], 'a login on node 3 lists the users of nodes 1 and 2');
    t.equal(userName(await ann.c.next((m) => m.cmd === 'presence' && m.event === 'online' && userName(m) === 'Cat')), 'Cat');
    t.equal(userName(await ben.c.next((m) => m.cmd === 'presence' && m.event === 'online' && userName(m) === 'Cat')), 'Cat');
    const taken = await loginOn(t, n3.url, 'ann');
    t.match(taken.reply, { cmd: 'error', code: 'name_taken' }, "Ann of node 1 is taken on node 3");
    ben.c.send({ cmd: 'status', status: 'away' });
    const st = await cat.c.next((m) => m.cmd === 'presence' && m.event === 'status');
    t.match(st.user, { name: 'Ben', status: 'away' });
    cat.c.send({ cmd: 'online', room: 'lobby' });
    t.same(names((await cat.c.next('online')).users), ['Ann', 'Ben', 'Cat']);
    ben.c.close();
    await ann.c.next((m) => m.cmd === 'presence' && m.event === 'offline' && userName(m) === 'Ben');
    await cat.c.next((m) => m.cmd === 'presence' && m.event === 'offline' && userName(m) === 'Ben');
    // His name stays his on every node (held in the shared store): a stranger is refused, his token lets him in.
    const stranger = await loginOn(t, n1.url, 'BEN');
    t.match(stranger.reply, { cmd: 'error', code: 'name_taken' }, 'a name stays held on every node once its user left');
    stranger.c.close();
    const again = await loginOn(t, n3.url, 'Ben', { token: ben.reply.token });
    t.match(again.reply, { cmd: 'login', user: { id: 'ben' } }, 'his token lets him in on another node');
    ann.c.close();
    cat.c.close();
    again.c.close();
  });

  t.test('room and private chat across nodes, offline messages too, one order of offsets', async (t) => {
    const users = await Promise.all([loginOn(t, n1.url, 'Dan'), loginOn(t, n2.url, 'Eve'), loginOn(t, n3.url, 'Fay')]);
    for (const u of users) u.c.send({ cmd: 'join', room: 'ops' });
    for (const u of users) await u.c.next('joined');
    const n = 20;
    users.forEach((u, k) => {
      for (let i = 0; i < n; i++) u.c.send({ cmd: 'send', to: { room: 'ops' }, type: 'text', body: `${k}-${i}`, cid: `ops-${k}-${i}` });
    });
    const acks = await Promise.all(users.map(async (u) => {
      const out: number[] = [];
      while (out.length < n) out.push((await u.c.next((m) => m.cmd === 'ack', 10000)).offset as number);
      return out;
    }));
    t.same(acks.flat().sort((a, b) => a - b), Array.from({ length: 3 * n }, (_, i) => i + 1), 'the shared store gave offsets 1..N, no gap, no repeat');
    const seen = await Promise.all(users.map(async (u: { c: ChatClient }) => {
      const out: string[] = [];
      while (out.length < 3 * n) {
        const m = await u.c.next((m) => m.cmd === 'message' && m.channel === 'room:ops', 10000);
        out.push(`${m.offset as number}:${m.body as string}`);
      }
      return out;
    }));
    t.same(seen[1], seen[0], 'node 2 delivered the same messages in the same order as node 1');
    t.same(seen[2], seen[0], 'node 3 too');
    t.same(seen[0]?.map((s) => Number(s.split(':')[0])), Array.from({ length: 3 * n }, (_, i) => i + 1), 'in offset order');

    const [dan, eve, fay] = users as [typeof users[0], typeof users[0], typeof users[0]];
    dan.c.send({ cmd: 'send', to: { user: 'eve' }, type: 'text', body: 'private', cid: 'dm1' });
    const dm = await eve.c.next((m) => m.cmd === 'message' && m.cid === 'dm1');
    t.equal(dm.channel, 'dm:dan:eve');
    t.ok(await fay.c.quiet((m) => m.cmd === 'message' && m.cid === 'dm1', 300), 'a third user does not see it');
    fay.c.close();
    await dan.c.next((m) => m.cmd === 'presence' && m.event === 'offline' && userName(m) === 'Fay');
    dan.c.send({ cmd: 'send', to: { user: 'fay' }, type: 'text', body: 'for later', cid: 'dm2' });
    await dan.c.next((m) => m.cmd === 'ack' && m.cid === 'dm2');
    const back = await loginOn(t, n2.url, 'Fay', { token: fay.reply.token });
    t.equal((await back.c.next((m) => m.cmd === 'message' && m.cid === 'dm2')).body, 'for later', 'the offline message reaches Fay on another node');
    for (const u of [dan, eve, back]) u.c.close();
  });

  t.test('a Comet or SockJS request on a node that does not hold its session fails as documented', async (t) => {
    const open = await fetch(`${n1.url}/comet/open`, { method: 'POST' });
    const { sid } = (await open.json()) as { sid: string };
    const poll = await fetch(`${n2.url}/comet/poll?sid=${sid}&ack=0`);
    t.equal(poll.status, 404);
    t.same(await poll.json(), { error: 'unknown_session' }, 'the client opens a new session and resumes');
    const send = await fetch(`${n2.url}/comet/send?sid=${sid}`, { method: 'POST', body: '[{"cmd":"ping"}]', headers: { 'content-type': 'application/json' } });
    t.equal(send.status, 404);
    const jsonp = await fetch(`${n2.url}/comet/poll?sid=${sid}&ack=0&callback=cb`);
    t.equal(jsonp.status, 200, 'JSONP answers 200 with the error inside');
    t.match(await jsonp.text(), /cb\(\{"error":"unknown_session"\}\)/);
    const right = await fetch(`${n1.url}/comet/send?sid=${sid}`, { method: 'POST', body: '[{"cmd":"ping"}]', headers: { 'content-type': 'application/json' } });
    t.equal(right.status, 200, 'the node that holds it answers');
    if (right.status !== 200) console.log(await right.text(), n1.lines.filter((l) => /"level":[56]0/.test(l)).join('\n'));

    const session = `s${Date.now()}`;
    const first = await fetch(`${n1.url}/sockjs/000/${session}/xhr`, { method: 'POST' });
    t.equal(first.status, 200);
    t.equal(await first.text(), 'o\n', 'node 1 opened the SockJS session');
    const wrong = await fetch(`${n2.url}/sockjs/000/${session}/xhr_send`, { method: 'POST', body: '["{\\"cmd\\":\\"ping\\"}"]', headers: { 'content-type': 'text/plain' } });
    t.equal(wrong.status, 404, 'xhr_send on another node: 404, and sockjs-client reconnects');
    const ok = await fetch(`${n1.url}/sockjs/000/${session}/xhr_send`, { method: 'POST', body: '["{\\"cmd\\":\\"ping\\"}"]', headers: { 'content-type': 'text/plain' } });
    t.equal(ok.status, 204, 'on its own node it is taken');
  });

  t.test('a node stopped with SIGTERM removes its records at once', async (t) => {
    const n4 = await cluster.addNode();
    const kim = await loginOn(t, n4.url, 'Kim');
    const lee = await loginOn(t, n1.url, 'Lee');
    t.ok(names(lee.reply.online).includes('Kim'), 'Kim of node 4 is online');
    const redis = new Redis(cluster.redis);
    t.teardown(() => redis.disconnect());
    t.equal(await redis.scard(`${cluster.prefix}:nodes`), 4, 'four nodes registered');
    n4.child.kill('SIGTERM');
    await exited(n4.child);
    const stoppedAt = Date.now();
    t.equal(await redis.scard(`${cluster.prefix}:nodes`), 3, 'its entry is gone when the process has exited');
    t.equal(await redis.exists(`${cluster.prefix}:user:kim`), 0, "Kim's name claim is gone");
    const again = await loginOn(t, n2.url, 'Kim', { token: kim.reply.token });
    t.equal(again.reply.cmd, 'login', 'the name is free for her at once, well before --node-timeout');
    t.ok(Date.now() - stoppedAt < 1500, `${Date.now() - stoppedAt} ms after the exit`);
    again.c.close();
    lee.c.close();
  });

  t.test('kill -9 of a node: its users are reported offline by the others and their names freed', async (t) => {
    const gil = await loginOn(t, n1.url, 'Gil');
    const hal = await loginOn(t, n2.url, 'Hal');
    const ivy = await loginOn(t, n3.url, 'Ivy');
    await gil.c.next((m) => m.cmd === 'presence' && m.event === 'online' && userName(m) === 'Ivy');
    await hal.c.next((m) => m.cmd === 'presence' && m.event === 'online' && userName(m) === 'Ivy');
    const killedAt = Date.now();
    n3.child.kill('SIGKILL');
    await exited(n3.child);
    // --node-timeout 1500 + --node-heartbeat 250 in this cluster; the defaults (15 s + 5 s) stay within 30 s.
    const [offG, offH] = await Promise.all([
      gil.c.next((m) => m.cmd === 'presence' && m.event === 'offline' && userName(m) === 'Ivy', 10000),
      hal.c.next((m) => m.cmd === 'presence' && m.event === 'offline' && userName(m) === 'Ivy', 10000),
    ]);
    const took = Date.now() - killedAt;
    t.ok(offG && offH, 'both survivors report Ivy offline');
    t.ok(took <= 1500 + 250 + 1000, `within the node timeout plus a heartbeat (${took} ms)`);
    console.log(`# kill -9 to presence offline on the survivors: ${took} ms`);
    const stranger = await loginOn(t, n2.url, 'Ivy');
    t.match(stranger.reply, { cmd: 'error', code: 'name_taken' }, 'her name is still held for her');
    const reclaimed = await loginOn(t, n1.url, 'Ivy', { token: ivy.reply.token });
    t.equal(reclaimed.reply.cmd, 'login', "the dead node's name claim is free for her");
    gil.c.send({ cmd: 'online' });
    t.same(names((await gil.c.next('online')).users), ['Gil', 'Hal', 'Ivy']);
  });
}
