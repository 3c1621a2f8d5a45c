/**
 * Guest identity scenarios (docs/protocol.md, "Identity"), run by
 * chatScenarios on every transport: a guest's name stays theirs after they
 * leave, their token brings them back, and once the hold has passed the
 * identity is retired and a new guest of the name shares nothing with it.
 */
import type { Test } from 'tap';
import type { Config } from '../../src/config.js';
import type { ChatClient, Connect, Msg } from '../helpers/client.js';
import { login, sendText } from './chat.js';

export type MakeServerWith = (overrides?: Partial<Config>) => Promise<{ connect: Connect; close(): Promise<void> }>;

const offlineOf = (id: string) => (m: Msg) => m.cmd === 'presence' && m.event === 'offline' && (m.user as { id: string }).id === id;

/** A login's answer, `login` or `error`, on a fresh connection. */
async function attempt(connect: Connect, fields: object): Promise<{ c: ChatClient; reply: Msg }> {
  const c = await connect();
  c.send({ cmd: 'login', ...fields });
  return { c, reply: await c.next((m) => m.cmd === 'login' || m.cmd === 'error') };
}

/** Carol and Dave talk in private, Carol joins a room and leaves; Dave writes to her while she is away. */
async function carolLeaves(connect: Connect, t: Test): Promise<{ dave: ChatClient; token: string }> {
  const { c: carol, me } = await login(connect, 'Carol');
  const { c: dave } = await login(connect, 'Dave');
  carol.send({ cmd: 'join', room: 'carols' });
  await carol.next('joined');
  sendText(carol, { user: 'dave' }, 'just between us');
  await dave.next((m) => m.cmd === 'message' && m.body === 'just between us');
  carol.send({ cmd: 'logout' });
  await carol.closed;
  // The server has seen her go: her name's hold now runs from here.
  await dave.next(offlineOf('carol'));
  sendText(dave, { user: 'carol' }, 'while you were away');
  t.equal((await dave.next('ack')).channel, 'dm:carol:dave');
  return { dave, token: me.token as string };
}

export function identityScenarios(t: Test, makeServer: MakeServerWith): void {
  const withServer = (name: string, overrides: Partial<Config>, fn: (connect: Connect, t: Test) => Promise<void>) =>
    t.test(name, async (t) => {
      const s = await makeServer(overrides);
      t.teardown(() => s.close());
      await fn(s.connect, t);
    });

  withServer("a guest's name stays theirs after they leave; their token brings them back", {}, async (connect, t) => {
    const { dave, token } = await carolLeaves(connect, t);
    for (const name of ['Carol', 'carol', 'CAROL']) {
      const { c, reply } = await attempt(connect, { name });
      t.match(reply, { cmd: 'error', code: 'name_taken', ref: 'login' }, `"${name}" without her token is taken while she is away`);
      c.close();
    }
    const { c: back, reply } = await attempt(connect, { name: 'Carol', token });
    t.match(reply, { cmd: 'login', user: { id: 'carol', name: 'Carol' } }, 'with her token she is Carol again');
    t.ok((reply.joined as string[]).includes('carols'), 'with her rooms');
    t.equal((await back.next('message')).body, 'while you were away', 'and what was sent to her meanwhile');
    back.close();
    dave.close();
  });

  withServer('once the hold has passed, the identity is retired and a new guest of the name is someone else', { guestHold: 1 }, async (connect, t) => {
    const { dave, token } = await carolLeaves(connect, t);
    await new Promise((r) => setTimeout(r, 1300));
    const old = await attempt(connect, { name: 'Carol', token });
    t.match(old.reply, { cmd: 'error', code: 'unauthorized' }, 'her old token is refused though it has not expired');
    old.c.close();
    const { c: next, reply } = await attempt(connect, { name: 'Carol' });
    t.equal(reply.cmd, 'login', 'the name is free again');
    const id = (reply.user as { id: string }).id;
    t.not(id, 'carol', 'a new id');
    t.equal((reply.user as { name: string }).name, 'Carol');
    t.same(reply.joined, ['lobby'], "none of the old identity's rooms");
    t.ok(await next.quiet('message', 300), 'none of its offline messages');
    next.send({ cmd: 'history', channel: 'dm:carol:dave' });
    t.match(await next.next('error'), { code: 'forbidden' }, 'nor its private history');
    next.send({ cmd: 'history', channel: `dm:${[id, 'dave'].sort().join(':')}` });
    t.same((await next.next('history')).messages, [], 'her own conversation with Dave starts empty');
    const again = await attempt(connect, { name: 'Carol', token });
    t.match(again.reply, { cmd: 'error', code: 'unauthorized' }, 'the old token stays refused while the new Carol is online');
    again.c.close();
    dave.send({ cmd: 'history', channel: 'dm:carol:dave' });
    const kept = (await dave.next('history')).messages as Msg[];
    t.same(kept.map((m) => m.body), ['just between us', 'while you were away'], 'the other side keeps its history');
    next.close();
    dave.close();
  });
}
