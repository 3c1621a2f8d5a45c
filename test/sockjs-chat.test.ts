/**
 * The Foundation's chat scenarios over SockJS, once per sockjs-client
 * transport that runs in Node (websocket, xhr-streaming, xhr-polling), and a
 * mixed run where WebSocket, Comet and SockJS users chat in the lobby and
 * every one of them sees the same messages at the same offsets in the same
 * order.
 */
import t from 'tap';
import type { ChatClient, Connect, Msg } from './helpers/client.js';
import { cometConnect } from './helpers/comet-client.js';
import { startServer } from './helpers/server.js';
import { type SockJSClient, type SockJSTransportName, sockjsConnect } from './helpers/sockjs-client.js';
import { wsConnect } from './helpers/ws-client.js';
import { chatScenarios, login, sendText } from './scenarios/chat.js';

const TRANSPORTS: SockJSTransportName[] = ['websocket', 'xhr-streaming', 'xhr-polling'];

/** A Connect that remembers its clients, so that the test fails if sockjs-client fell back to another transport. */
function pinned(connect: Connect, transport: SockJSTransportName): { connect: Connect; check(): void } {
  const clients: SockJSClient[] = [];
  return {
    connect: async (opts) => {
      const c = (await connect(opts)) as SockJSClient;
      clients.push(c);
      return c;
    },
    check() {
      const other = clients.filter((c) => c.via !== transport).map((c) => c.via);
      if (other.length > 0) throw new Error(`sockjs-client used ${other.join(', ')} instead of ${transport}`);
    },
  };
}

for (const transport of TRANSPORTS) {
  t.test(`chat scenarios over SockJS (${transport})`, async (t) => {
    chatScenarios(t, async (overrides) => {
      const s = await startServer(overrides);
      const { connect, check } = pinned(sockjsConnect(s.url, transport), transport);
      return {
        connect,
        async close() {
          await s.close();
          check();
        },
      };
    });
  });
}

t.test('WebSocket, Comet and every SockJS transport share one lobby and one order of messages', async (t) => {
  const s = await startServer({ rateLimit: 1000, rateBurst: 1000 });
  t.teardown(() => s.close());
  const people: Array<[string, Connect]> = [
    ['Wendy', wsConnect(s.url)],
    ['Carl', cometConnect(s.url, 'json')],
    ...TRANSPORTS.map((tr, i): [string, Connect] => [`Sam${i}`, sockjsConnect(s.url, tr)]),
  ];
  const clients: ChatClient[] = [];
  for (const [name, connect] of people) clients.push((await login(connect, name)).c);

  const perClient = 6;
  const total = perClient * clients.length;
  // Everyone talks at once, so that the store has to interleave them.
  for (let i = 0; i < perClient; i++) {
    clients.forEach((c, n) => sendText(c, { room: 'lobby' }, `${people[n]?.[0]} #${i}`));
  }
  const seen: Msg[][] = [];
  for (const c of clients) {
    const got: Msg[] = [];
    for (let i = 0; i < total; i++) got.push(await c.next('message', 10000));
    seen.push(got);
  }
  const reference = seen[0]?.map((m) => `${String(m.offset)}:${String(m.body)}`) ?? [];
  t.same(
    reference.map((r) => Number(r.split(':')[0])),
    Array.from({ length: total }, (_, i) => i + 1),
    'offsets 1..N in order, no gap, no repeat',
  );
  clients.forEach((c, n) => {
    t.same(
      seen[n]?.map((m) => `${String(m.offset)}:${String(m.body)}`),
      reference,
      `${c.transport} saw the same messages in the same order`,
    );
  });
  for (const c of clients) t.ok(await c.quiet('message', 200), `${c.transport}: nothing twice`);
  for (const c of clients) c.close();
  // Closed before the server is, so that no request of theirs is still in flight when it stops.
  await Promise.all(clients.map((c) => c.closed));
});
