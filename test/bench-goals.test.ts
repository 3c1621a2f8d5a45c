/**
 * The verdicts of the comparison bench's goals table (bench/compare-report.ts):
 * a memory goal is judged only on readings that settled, since a reading cut
 * short (V8's young generation still grown) can put webim anywhere, even
 * below zero KiB per connection as a quick run once did.
 */
import t from 'tap';
import { goals } from '../bench/compare-report.js';
import type { PollSuite, WsSuite } from '../bench/compare-scenarios.js';

function idle(server: WsSuite['server'], kib: number, settled = true): WsSuite {
  return { server, members: 1000, setupSeconds: 1, rssPerConn: kib * 1024, heapPerConn: kib * 512, settled, windows: [] };
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
