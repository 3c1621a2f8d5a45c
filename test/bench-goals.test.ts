/**
 * The verdicts of the comparison bench's goals table (bench/compare/report.ts):
 * a memory goal is judged only on readings that settled, since a reading cut
 * short (V8's young generation still grown) can put webim anywhere, even
 * below zero KiB per connection as a quick run once did.
 */
import t from 'tap';
import { goals, unmeasuredSection } from '../bench/compare/report.js';
import type { PollSuite, WindowFigures, WsSuite } from '../bench/compare/scenarios.js';

function idle(server: WsSuite['server'], kib: number, settled = true): WsSuite {
  return { server, members: 1000, setupSeconds: 1, rssPerConn: kib * 1024, heapPerConn: kib * 512, settled, windows: [], unmeasured: [] };
}

/** A fan-out window of `perCpuS` deliveries per server CPU-second, all delivered. */
function win(rate: number, perCpuS: number): WindowFigures {
  const rtt = { p50: 1, p99: 2, p999: 3, samples: 100, lost: 0 };
  return {
    room: 'big', rate, messages: rate, expected: 10_000, deliveries: 10_000, complete: 10_000, members: 1000, closed: 0,
    p50: 1, p99: 2, max: 3, spanMs: 1000, clientCpuMs: 1, serverCpuMs: (10_000 / perCpuS) * 1000, busy: 0.5, rtt,
  };
}

function held(server: PollSuite['server'], kib: number, settled = true): PollSuite {
  const result = { messages: 1, expected: 1000, deliveries: 1000, complete: 1000, members: 1000, closed: 0, p50: 1, p99: 2, max: 3, spanMs: 3, clientCpuMs: 1 };
  return { server, kind: 'ws', polls: 1000, rssPerPoll: kib * 1024, heapPerPoll: kib * 512, settled, socketsPerPoll: 1, result, firstMs: 1 };
}

const row = (lines: string[], goal: string): string => lines.find((l) => l.includes(goal)) ?? '';

t.test('memory goals are judged on settled readings', async (t) => {
  const lines = goals([idle('ws', 4), idle('webim', 5), idle('socket.io', 12)], [held('webim', 11), held('socket.io', 20), held('sockjs', 14)]);
  t.match(row(lines, 'idle memory'), /\*\*met\*\* \|$/);
  t.match(row(lines, 'held long-poll'), /\*\*met\*\* \|$/);
  const missed = goals([idle('ws', 4), idle('webim', 7), idle('socket.io', 12)], [held('webim', 15), held('socket.io', 20), held('sockjs', 14)]);
  t.match(row(missed, 'idle memory'), /\*\*missed\*\* \|$/, 'above 1.5x ws');
  t.match(row(missed, 'held long-poll'), /\*\*missed\*\* \|$/, 'above sockjs');
});

t.test('a reading cut short withholds the verdict, whichever server it was', async (t) => {
  const lines = goals([idle('ws', 4), idle('webim', -1.86, false), idle('socket.io', 28)], [held('webim', 11), held('socket.io', 20, false), held('sockjs', 14)]);
  t.match(row(lines, 'idle memory'), /not judged: a memory reading was cut short/);
  t.notMatch(row(lines, 'idle memory'), /\*\*met\*\*/, 'a negative reading is not a met goal');
  t.match(row(lines, 'held long-poll'), /not judged/, "a peer's reading counts as much as webim's");
});

t.test('a window one server could not be measured in leaves the others judged and is listed', async (t) => {
  const suite = (server: WsSuite['server'], ...perCpu: number[]): WsSuite => ({ ...idle(server, 4), windows: perCpu.map((p, i) => win(10 * (i + 1), p)) });
  const sio = { ...suite('socket.io', 10_000), unmeasured: ['10,000 members at 20 msg/s: Error: socket.io loop: no answer within 120000 ms'] };
  const lines = goals([suite('ws', 40_000, 40_000), suite('webim', 36_000, 30_000), sio, suite('sockjs', 15_000, 15_000)], []);
  const fanout = lines.filter((l) => l.includes('fan-out'));
  t.equal(fanout.length, 1, 'only the window every server was measured in is judged');
  t.match(fanout[0], /at 10 msg\/s.*0\.90x ws, 3\.60x Socket\.IO, 2\.40x sockjs \| \*\*met\*\* \|$/);
  t.same(unmeasuredSection([sio]), [
    '### Windows left unmeasured',
    '',
    'The server did not answer in time after the window, still delivering a backlog larger than one core delivers; its rows before it are kept.',
    '',
    '- socket.io: 10,000 members at 20 msg/s: Error: socket.io loop: no answer within 120000 ms',
    '',
  ]);
  t.same(unmeasuredSection([suite('ws', 1)]), [], 'nothing when every window was measured');
});
