/**
 * The comparison bench's peers and clients (bench/compare/):
 * every server kind, over every client kind the bench uses for it,
 * delivers a room message with its body intact to each member and to no
 * one outside the room, and reports memory and CPU over IPC; a wrong peer
 * would make every ratio in BENCHMARKS.md meaningless.
 */
import t from 'tap';
import { type Kind, type LoadConn, openConn, serverOf } from '../bench/compare/clients.js';
import { ServerProcess } from '../bench/compare/servers.js';

const KINDS: Kind[] = ['ws', 'sio-ws', 'sio-polling', 'sockjs-ws', 'sockjs-xhr-polling', 'webim-ws', 'webim-comet'];

function next(conn: LoadConn, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms);
    conn.onText = (text) => {
      clearTimeout(timer);
      resolve(text);
    };
  });
}

for (const kind of KINDS) {
  t.test(kind, async (t) => {
    const server = await ServerProcess.start(serverOf(kind));
    t.teardown(() => server.kill());
    const open = (name: string): Promise<LoadConn> => openConn(kind, { port: server.port, localAddress: '127.0.0.1', name, timeoutMs: 10_000 });
    const [a, b, outsider] = [await open('ann'), await open('bob'), await open('eve')];
    t.teardown(() => {
      for (const c of [a, b, outsider]) c.close();
    });
    for (const c of [a, b]) await c.join('room1');
    let leaked = '';
    outsider.onText = (text) => {
      leaked = text;
    };
    const got = next(b, 10_000);
    a.send('room1', '~b7.3. hello');
    t.match(await got, /~b7\.3\. hello/, 'the member got the body');
    // The outsider's own traffic (webim's presence) never carries the body; a leak would have arrived with b's copy.
    await new Promise((r) => setTimeout(r, 200));
    t.notMatch(leaked, /~b7\.3\./, 'no one outside the room got it');
    const mem = await server.memory();
    t.ok(mem.rss > 10 * 2 ** 20 && mem.heap > 0, 'memory reported');
    const loop = await server.loop();
    t.ok(loop.wallMs > 0 && loop.cpuMs >= 0, 'CPU reported');
    await server.stop();
  });
}
