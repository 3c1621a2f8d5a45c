/**
 * Redis going away and coming back under traffic (issue 9): two nodes on
 * a redis-server of this test's own (never the shared one), one sender
 * posting to the lobby all along, receivers on both nodes. Redis is
 * killed (kill -9) mid-stream and started again, empty. Every acked
 * message must reach every receiver exactly once and in offset order,
 * through live delivery plus gap filling from the store; sends keep being
 * acked while Redis is away; presence is registered again afterwards.
 */
import t from 'tap';
import type { ChatClient, Msg } from './helpers/client.js';
import { loginOn, startCluster } from './helpers/cluster.js';
import { freePort } from './helpers/nginx.js';
import { startOwnRedis } from './helpers/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const own = await startOwnRedis(t, await freePort());
if (own !== undefined) {
  t.teardown(() => own.stop());
  const cluster = await startCluster(t, 2, [], own.url);
  if (cluster !== undefined) {
    const [n1, n2] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];

    t.test('every acked message reaches every receiver once, in order, across a Redis restart', async (t) => {
      const sam = await loginOn(t, n1.url, 'Sam');
      const rex = await loginOn(t, n1.url, 'Rex');
      const rita = await loginOn(t, n2.url, 'Rita');
      await sam.c.next((m) => m.cmd === 'presence' && m.event === 'online' && (m.user as { name: string }).name === 'Rita');

      const acked = new Map<string, number>();
      const ackedDuringOutage: string[] = [];
      let down = false;
      let sent = 0;
      let collecting = true;
      const collectAcks = (async () => {
        while (collecting) {
          const m = await sam.c.next('ack', 200).catch(() => undefined);
          if (!m) continue;
          acked.set(m.cid as string, m.offset as number);
          if (down) ackedDuringOutage.push(m.cid as string);
        }
      })();
      const started = Date.now();
      const sender = (async () => {
        while (Date.now() - started < 5000) {
          sam.c.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: `n${sent}`, cid: `r${sent}` });
          sent++;
          await sleep(70);
        }
      })();
      await sleep(1200);
      await own.kill();
      down = true;
      await sleep(1500);
      await own.restart();
      down = false;
      await sender;

      const deadline = Date.now() + 20000;
      while (acked.size < sent && Date.now() < deadline) await sleep(50);
      collecting = false;
      await collectAcks;
      t.equal(acked.size, sent, `every send was acked (${sent})`);
      t.ok(ackedDuringOutage.length > 0, `sends were acked while Redis was away (${ackedDuringOutage.length})`);

      const wanted = [...acked.values()].sort((a, b) => a - b);
      const receive = async (c: ChatClient): Promise<Msg[]> => {
        const got: Msg[] = [];
        const until = Date.now() + 20000;
        while (got.length < wanted.length && Date.now() < until) {
          const m = await c.next((m) => m.cmd === 'message' && typeof m.cid === 'string' && /^r\d+$/.test(m.cid), Math.max(1, until - Date.now())).catch(() => undefined);
          if (m) got.push(m);
        }
        // Anything more would be a repeat.
        await sleep(500);
        for (;;) {
          const extra = await c.next((m) => m.cmd === 'message', 1).catch(() => undefined);
          if (!extra) break;
          got.push(extra);
        }
        return got;
      };
      const [atRex, atRita] = await Promise.all([receive(rex.c), receive(rita.c)]);
      for (const [who, got] of [['Rex (node 1)', atRex], ['Rita (node 2)', atRita]] as const) {
        t.same(got.map((m) => m.offset), wanted, `${who}: every acked offset once, in order (${got.length} of ${wanted.length})`);
      }
      // Past the second resync (--node-timeout 1500 + --node-heartbeat 250): nobody was reported offline.
      await sleep(2500);
      const offline = (c: ChatClient) => c.log.filter((m) => m.cmd === 'presence' && m.event === 'offline').length;
      t.equal(offline(rex.c) + offline(rita.c) + offline(sam.c), 0, 'no user was reported offline across the restart');
      rita.c.send({ cmd: 'online' });
      const list = await rita.c.next('online');
      t.same((list.users as Array<{ name: string }>).map((u) => u.name).sort(), ['Rex', 'Rita', 'Sam'], 'node 2 sees the users of node 1 again');
      const again = await loginOn(t, n2.url, 'sam');
      t.match(again.reply, { cmd: 'error', code: 'name_taken' }, "node 1 registered Sam again in the restarted Redis");
      for (const [i, node] of [n1, n2].entries()) {
        t.ok(node.lines.some((l) => l.includes('"bus reconnected"')), `node ${i + 1} reconnected to the new Redis and resynced`);
      }
    });
  }
}
