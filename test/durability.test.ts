/**
 * Nothing acked is ever lost (PROTOCOL.md 3.2): the server runs as a child
 * process on the embedded SQLite store, is killed with SIGKILL in the middle
 * of a burst, and every message it acked is in history after a restart on
 * the same data directory, with the same id and offset.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Msg } from './helpers/client.js';
import { exited, spawnServer } from './helpers/process.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

const FAST = ['--rate-limit', '100000', '--rate-burst', '100000', '--log-level', 'info'];

t.test('acked messages survive kill -9 with their offsets', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'webim-durable-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

  const first = await spawnServer(['--data-dir', dataDir, ...FAST]);
  t.teardown(() => first.child.kill('SIGKILL'));
  const { c } = await login(wsConnect(first.url), 'Writer');
  const acked = new Map<string, Msg>();
  for (let i = 0; i < 400; i++) {
    c.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: `burst ${i}`, cid: `b${i}` });
  }
  while (acked.size < 200) {
    const ack = await c.next('ack');
    acked.set(ack.cid as string, ack);
  }
  first.child.kill('SIGKILL');
  await exited(first.child);
  for (const m of c.log) if (m.cmd === 'ack') acked.set(m.cid as string, m);
  t.ok(acked.size >= 200, `${acked.size} messages were acked before the kill`);

  const second = await spawnServer(['--data-dir', dataDir, ...FAST]);
  t.teardown(() => second.child.kill('SIGKILL'));
  const { c: reader } = await login(wsConnect(second.url), 'Reader');
  const stored = new Map<number, Msg>();
  let before: number | undefined;
  for (;;) {
    reader.send({ cmd: 'history', channel: 'room:lobby', limit: 100, ...(before ? { before } : {}) });
    const page = await reader.next('history');
    const messages = page.messages as Msg[];
    for (const m of messages) stored.set(m.offset as number, m);
    if (!page.more || messages.length === 0) break;
    before = messages[0]?.offset as number;
  }
  const offsets = [...stored.keys()].sort((a, b) => a - b);
  t.same(offsets, offsets.map((_, i) => i + 1), 'offsets are 1..N with no gap');
  let missing = 0;
  for (const ack of acked.values()) {
    const m = stored.get(ack.offset as number);
    if (!m || m.id !== ack.id || m.cid !== ack.cid) missing++;
  }
  t.equal(missing, 0, 'every acked message is stored with its id and offset');

  const { c: writer } = await login(wsConnect(second.url), 'Writer');
  const retry = acked.get('b7') as Msg;
  writer.send({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'burst 7', cid: 'b7' });
  const again = await writer.next('ack');
  t.same([again.id, again.offset], [retry.id, retry.offset], 'a retried cid is not stored twice after a restart');
  second.child.kill('SIGTERM');
  t.equal(await exited(second.child), 0, 'SIGTERM shuts down cleanly');
});
