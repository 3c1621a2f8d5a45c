/**
 * A server restart, seen from two browsers (issue #5): `webim start` runs
 * as a child process on the SQLite store and a fixed port, so the pages
 * keep their URL. It is stopped with SIGTERM and started again on the same
 * port and data directory. Messages sent before, while it is down (typed
 * while offline, queued by the client) and after all show up exactly
 * once, in offset order, on both pages and in the stored history. One
 * page is on WebSocket, the other on Comet long-poll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Msg } from './helpers/client.js';
import { inOffsetOrder, launchBrowser, openChat, type Person, say, type ShownMessage, until, waitForBodies } from './helpers/browser.js';
import { exited, type ServerProcess, spawnServer } from './helpers/process.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

/** A port that is free now: the server is started on it twice, so the pages keep one URL. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const addr = probe.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

const browser = await launchBrowser(t);

if (browser) {
  t.test('a server restart loses and doubles no message', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'webim-browser-restart-'));
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const args = ['--data-dir', dataDir, '--store', 'sqlite', '--port', String(port), '--shutdown-grace', '300'];
    let server: ServerProcess = await spawnServer(args);
    t.teardown(() => {
      server.child.kill('SIGKILL');
    });
    t.equal(server.port, port, 'the server listens on the chosen port');
    const url = server.url;

    const people: Person[] = [];
    // Rita on whatever the page picks (WebSocket), Sam on Comet: both resume
    for (const [name, query] of [['Rita', ''], ['Sam', '?transport=comet']] as const) {
      const p = await openChat(browser, url, name, { query });
      t.teardown(() => p.context.close());
      people.push(p);
    }
    const [rita, sam] = people as [Person, Person];
    const state = (p: Person) => p.page.getByTestId('connection').textContent();

    // before
    await say(rita.page, 'before 1');
    await waitForBodies(sam.page, ['before 1']);
    await say(sam.page, 'before 2');
    await waitForBodies(rita.page, ['before 2']);

    // down
    server.child.kill('SIGTERM');
    t.equal(await exited(server.child), 0, 'SIGTERM stops the server cleanly');
    for (const p of people) {
      const s = await until(() => state(p), (v) => v !== 'online', `${p.name}'s page to notice`);
      t.not(s, 'online', `${p.name}'s page is ${s} while the server is down`);
    }
    await say(rita.page, 'during 1');
    await say(sam.page, 'during 2');
    await say(rita.page, 'during 3');
    t.equal(await rita.page.getByTestId('composer').inputValue(), '', 'what was typed offline left the composer (queued)');

    // up again, same port and data directory
    server = await spawnServer(args);
    t.equal(server.url, url, 'the same URL again');
    // the pages come back on their own, after their reconnect backoff (seconds, with jitter)
    for (const p of people) await until(() => state(p), (v) => v === 'online', `${p.name} back online`, 30000);

    // after
    await say(sam.page, 'after 1');
    await waitForBodies(rita.page, ['after 1'], 15000);
    await say(rita.page, 'after 2');

    const all = ['before 1', 'before 2', 'during 1', 'during 2', 'during 3', 'after 1', 'after 2'];
    const views: ShownMessage[][] = [];
    for (const p of people) {
      const shown = await waitForBodies(p.page, all, 20000);
      views.push(shown);
      const bodies = shown.map((m) => m.body);
      t.same([...bodies].sort(), [...all].sort(), `${p.name} sees every message exactly once`);
      t.same(shown.map((m) => m.offset), [1, 2, 3, 4, 5, 6, 7], `${p.name}: offsets 1..7, no gap, no double`);
      t.ok(inOffsetOrder(shown), 'shown in offset order');
      t.same(bodies.slice(0, 2), ['before 1', 'before 2'], 'the messages from before come first');
      t.same(bodies.slice(5), ['after 1', 'after 2'], 'the messages from after come last');
      t.ok(bodies.indexOf('during 1') < bodies.indexOf('during 3'), 'one sender\'s queued messages keep their order');
      t.equal(new Set(shown.map((m) => m.id)).size, 7, 'seven distinct server ids');
      t.same(p.errors, [], `no page error for ${p.name}`);
    }
    const ids = (v: ShownMessage[]) => v.map((m) => `${m.offset}:${m.id}:${m.body}`);
    t.same(ids(views[1] as ShownMessage[]), ids(views[0] as ShownMessage[]), 'both pages show the same messages');
    const byFrom = (views[0] as ShownMessage[]).filter((m) => m.from === sam.id).map((m) => m.body);
    t.same(byFrom, ['before 2', 'during 2', 'after 1'], 'each message is from who typed it');

    // and the store holds exactly those
    const { c } = await login(wsConnect(url), 'Auditor');
    c.send({ cmd: 'history', channel: 'room:lobby', limit: 100 });
    const history = await c.next('history');
    const stored = (history.messages as Msg[]).map((m) => `${m.offset as number}:${m.id as string}:${m.body as string}`);
    t.same(stored, ids(views[0] as ShownMessage[]), 'the stored history is exactly what the pages show');
    c.close();

    server.child.kill('SIGTERM');
    t.equal(await exited(server.child), 0, 'the second server stops cleanly too');
  });
}
