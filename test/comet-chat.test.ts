/**
 * The Foundation's chat scenarios over Comet long-poll, in both browser
 * forms (XHR JSON and JSONP), and a mixed run where a WebSocket user and a
 * Comet user chat with each other in the lobby and in private.
 */
import t from 'tap';
import type { ChatClient, Connect, Msg } from './helpers/client.js';
import { type CometClient, type CometForm, cometConnect } from './helpers/comet-client.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { chatScenarios, login, sendText } from './scenarios/chat.js';

/**
 * A Connect that remembers its clients, so that closing the server can fail
 * the test when any of them met a reply against docs/protocol.md section 4.
 */
function tracked(connect: Connect): { connect: Connect; check(): void } {
  const clients: CometClient[] = [];
  return {
    connect: async (opts) => {
      const c = (await connect(opts)) as CometClient;
      clients.push(c);
      return c;
    },
    check() {
      const errors = clients.flatMap((c) => c.protocolErrors);
      if (errors.length > 0) throw new Error(`Comet protocol violations:\n  ${errors.join('\n  ')}`);
    },
  };
}

for (const form of ['json', 'jsonp'] as const) {
  t.test(`chat scenarios over Comet (${form})`, async (t) => {
    chatScenarios(t, async (overrides) => {
      const s = await startServer(overrides);
      const { connect, check } = tracked(cometConnect(s.url, form));
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

const isBody = (body: string) => (m: Msg) => m.cmd === 'message' && m.body === body;

/** Collects `count` messages of one channel as the client sees them, in arrival order. */
async function offsetsSeen(c: ChatClient, channel: string, count: number): Promise<Array<[number, string]>> {
  const out: Array<[number, string]> = [];
  for (let i = 0; i < count; i++) {
    const m = await c.next((m) => m.cmd === 'message' && m.channel === channel);
    out.push([m.offset as number, m.body as string]);
  }
  return out;
}

function mixedRun(form: CometForm): void {
  t.test(`a WebSocket user and a Comet (${form}) user chat with each other`, async (t) => {
    const s = await startServer();
    t.teardown(() => s.close());
    const { c: ws, me: wsMe } = await login(wsConnect(s.url), 'Wanda');
    const { c: comet, me: cometMe } = await login(cometConnect(s.url, form), 'Carl');
    t.equal(comet.transport, `comet-${form}`);
    t.same((cometMe.online as Array<{ id: string }>).map((u) => u.id).sort(), ['carl', 'wanda'], 'the Comet user sees the WebSocket user online');
    const on = await ws.next((m) => m.cmd === 'presence' && m.event === 'online');
    t.match(on.user, { id: 'carl' }, 'the WebSocket user sees the Comet user come online');
    t.equal(wsMe.cmd, 'login');

    // Lobby, both directions, interleaved: both must see offsets 1..6 in one order, the same for both.
    const lobby: string[] = [];
    for (let i = 0; i < 3; i++) {
      lobby.push(`ws says ${i}`, `comet says ${i}`);
      sendText(ws, { room: 'lobby' }, `ws says ${i}`);
      await ws.next('ack');
      sendText(comet, { room: 'lobby' }, `comet says ${i}`);
      await comet.next('ack');
    }
    const expected = lobby.map((body, i): [number, string] => [i + 1, body]);
    t.same(await offsetsSeen(ws, 'room:lobby', 6), expected, 'the WebSocket user sees the lobby in offset order');
    t.same(await offsetsSeen(comet, 'room:lobby', 6), expected, 'the Comet user sees the lobby in offset order');

    // Private, both directions.
    const toCarl = sendText(ws, { user: 'carl' }, 'psst carl');
    const ack1 = await ws.next('ack');
    t.equal(ack1.channel, 'dm:carl:wanda');
    const got1 = await comet.next(isBody('psst carl'));
    t.match(got1, { channel: 'dm:carl:wanda', offset: 1, from: { id: 'wanda' }, to: { user: 'carl' }, cid: toCarl });
    const toWanda = sendText(comet, { user: 'wanda' }, 'psst wanda');
    const ack2 = await comet.next('ack');
    t.equal(ack2.offset, 2);
    const got2 = await ws.next(isBody('psst wanda'));
    t.match(got2, { channel: 'dm:carl:wanda', offset: 2, from: { id: 'carl' }, to: { user: 'wanda' }, cid: toWanda });
    t.equal((await ws.next(isBody('psst carl'))).offset, 1, 'the WebSocket sender gets its own private message');
    t.equal((await comet.next(isBody('psst wanda'))).offset, 2, 'the Comet sender gets its own private message');

    // Typing and presence cross transports too; the Comet user's logout reaches the WebSocket user.
    comet.send({ cmd: 'typing', to: { user: 'wanda' } });
    t.match(await ws.next('typing'), { from: { id: 'carl' } });
    comet.send({ cmd: 'logout' });
    await comet.closed;
    const off = await ws.next((m) => m.cmd === 'presence' && m.event === 'offline');
    t.match(off.user, { id: 'carl' });
    t.same((comet as CometClient).protocolErrors, []);
    ws.close();
    await ws.closed;
  });
}

mixedRun('json');
mixedRun('jsonp');
