/**
 * Markdown tables of the comparison bench, each with its ratio to the
 * `ws` ceiling (or, for long-polls, which the ceiling does not have, to
 * webim's Comet), and the issue's goals checked against the same run.
 */
import type { MixedSuite, PollSuite, Rtt, WindowFigures, WsSuite } from './scenarios.js';

const kib = (b: number): string => (Number.isFinite(b) ? (b / 1024).toFixed(2) : 'n/a');
const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(v < 100 ? 1 : 0) : 'n/a');
const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const ratio = (a: number, b: number): string => (Number.isFinite(a / b) && b !== 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
const perCpu = (w: WindowFigures): number => w.deliveries / (w.serverCpuMs / 1000);
const rtt = (r: Rtt): string => `${ms(r.p50)} / ${ms(r.p99)} / ${ms(r.p999)} (${int(r.samples)}${r.lost > 0 ? `, ${int(r.lost)} unanswered` : ''})`;
const roomSize = (w: WindowFigures): string => int(w.members);

export function idleTable(suites: readonly WsSuite[]): string[] {
  const ws = suites.find((s) => s.server === 'ws');
  const rows = suites.map(
    (s) => `| ${s.server} | ${int(s.members)} | ${s.setupSeconds.toFixed(1)} | ${kib(s.rssPerConn)} | ${kib(s.heapPerConn)} | ${ws ? ratio(s.rssPerConn, ws.rssPerConn) : 'n/a'} |`,
  );
  return ['| server (WebSocket) | connections | setup (s) | server RSS per connection (KiB) | heap per connection (KiB) | RSS vs ws |', '|---|---:|---:|---:|---:|---:|', ...rows];
}

export function fanoutTable(suites: readonly WsSuite[]): string[] {
  const ws = suites.find((s) => s.server === 'ws');
  const rows: string[] = [];
  const count = Math.max(0, ...suites.map((s) => s.windows.length));
  for (let i = 0; i < count; i++) {
    for (const s of suites) {
      const w = s.windows[i];
      if (!w) continue;
      const base = ws?.windows[i];
      const lost = w.expected - w.deliveries;
      rows.push(
        `| ${s.server} | ${roomSize(w)} | ${w.rate} | ${int(w.deliveries)} of ${int(w.expected)}${lost > 0 ? ` (${int(w.closed)} closed)` : ''} ` +
          `| ${ms(w.p50)} / ${ms(w.p99)} | ${int(w.deliveries / (w.spanMs / 1000))} | ${(w.serverCpuMs / 1000).toFixed(2)} (${Math.round(w.busy * 100)}%) ` +
          `| ${int(perCpu(w))} | ${base ? ratio(perCpu(w), perCpu(base)) : 'n/a'} | ${rtt(w.rtt)} |`,
      );
    }
  }
  return [
    '| server (WebSocket) | members | msg/s | delivered of expected | send → last receipt p50 / p99 (ms) | deliveries/s | server CPU s (loop busy) | deliveries per server CPU-s | vs ws | 1:1 round trip p50 / p99 / p99.9 ms (samples) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ];
}

/** Fan-out windows a server could not be measured in; the rows before them stand. */
export function unmeasuredSection(suites: readonly WsSuite[]): string[] {
  const lines = suites.flatMap((s) => s.unmeasured.map((u) => `- ${s.server}: ${u}`));
  if (lines.length === 0) return [];
  return [
    '### Windows left unmeasured',
    '',
    'The server did not answer in time after the window, still delivering a backlog larger than one core delivers; its rows before it are kept.',
    '',
    ...lines,
    '',
  ];
}

export function slowTable(suites: readonly WsSuite[]): string[] {
  const rows = suites.flatMap((s) => {
    if (!s.slow) return [];
    const base = s.windows.find((w) => w.room === s.slow?.window.room && w.rate === s.slow.window.rate);
    const w = s.slow.window;
    return [
      `| ${s.server} | ${roomSize(w)} | ${w.rate} | ${s.slow.paused} | ${base ? ms(base.p99) : 'n/a'} / ${ms(w.p99)} | ${int(w.deliveries)} of ${int(w.expected)} | ${kib(s.slow.rssGrowth)} |`,
    ];
  });
  return ['| server | readers | msg/s | stopped reading | others\' send → last receipt p99 without / with them (ms) | others\' deliveries | server RSS growth over the window (KiB) |', '|---|---:|---:|---:|---:|---:|---:|', ...rows];
}

export function pollTable(suites: readonly PollSuite[]): string[] {
  const webim = suites.find((s) => s.server === 'webim');
  const rows = suites.map(
    (s) =>
      `| ${s.server} (${s.kind}) | ${int(s.polls)} | ${kib(s.rssPerPoll)} | ${kib(s.heapPerPoll)} | ${webim ? ratio(s.rssPerPoll, webim.rssPerPoll) : 'n/a'} | ${s.socketsPerPoll.toFixed(2)} ` +
      `| ${int(s.result.deliveries)} | ${ms(s.firstMs)} / ${ms(s.result.max)} |`,
  );
  return ['| server (long-poll) | polls held | server RSS per poll (KiB) | heap per poll (KiB) | RSS vs webim | server sockets per poll | pollers reached | first / last poller reached (ms) |', '|---|---:|---:|---:|---:|---:|---:|---:|', ...rows];
}

export function mixedTable(m: MixedSuite): string[] {
  const rows = m.byKind.map(({ kind, d }) => `| ${kind} | ${int(d.members)} | ${int(d.deliveries)} of ${int(d.expected)} | ${ms(d.p50)} / ${ms(d.p99)} / ${ms(d.max)} |`);
  return [`One lobby of ${int(m.members)} webim users, ${m.rate} msg/s:`, '', '| transport | members | delivered of expected | send → last receipt p50 / p99 / max (ms) |', '|---|---:|---:|---:|', ...rows];
}

const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? '**met**' : '**missed**');

/** A memory goal's verdict, withheld when a reading it rests on was cut short (its RSS may err either way). */
const memVerdict = (ok: boolean, suites: ReadonlyArray<{ settled: boolean }>): string =>
  suites.every((s) => s.settled) ? verdict(ok) : 'not judged: a memory reading was cut short (listed at the end)';

/** The issue's goals, each with the figures it was judged on. */
export function goals(ws: readonly WsSuite[], polls: readonly PollSuite[]): string[] {
  const get = (n: string): WsSuite | undefined => ws.find((s) => s.server === n);
  const [webim, ceiling, sio, sockjs] = [get('webim'), get('ws'), get('socket.io'), get('sockjs')];
  const out = ['| goal | measured | verdict |', '|---|---|---|'];
  if (webim && ceiling && sio) {
    const ok = webim.rssPerConn <= 1.5 * ceiling.rssPerConn && webim.rssPerConn < sio.rssPerConn;
    out.push(`| idle memory per WebSocket connection ≤1.5x ws and < Socket.IO | webim ${kib(webim.rssPerConn)} KiB = ${ratio(webim.rssPerConn, ceiling.rssPerConn)} ws; Socket.IO ${kib(sio.rssPerConn)} KiB | ${memVerdict(ok, [webim, ceiling, sio])} |`);
  }
  for (const [i, w] of (webim?.windows ?? []).entries()) {
    const c = ceiling?.windows[i];
    const s = sio?.windows[i];
    const j = sockjs?.windows[i];
    if (!c || !s || !j) continue;
    const ok = perCpu(w) >= 0.7 * perCpu(c) && perCpu(w) >= 2 * perCpu(s) && perCpu(w) >= 2 * perCpu(j);
    // Where some server could not deliver everything within the drain, the ratios compare backlogs more than fan-out.
    const saturated = [w, c, s, j].some((x) => x.deliveries < x.expected) ? ' (saturated: not every server delivered all)' : '';
    out.push(
      `| fan-out ${roomSize(w)} members at ${w.rate} msg/s${saturated}: deliveries/CPU-s ≥0.7x ws, ≥2x Socket.IO and sockjs | ${ratio(perCpu(w), perCpu(c))} ws, ${ratio(perCpu(w), perCpu(s))} Socket.IO, ${ratio(perCpu(w), perCpu(j))} sockjs | ${verdict(ok)} |`,
    );
    out.push(`| 1:1 p99 under that load below Socket.IO's | webim ${rttText(w.rtt)}, Socket.IO ${rttText(s.rtt)} | ${verdict(p99Of(w.rtt) < p99Of(s.rtt))} |`);
  }
  const pw = polls.find((p) => p.server === 'webim');
  const others = polls.filter((p) => p.server !== 'webim');
  if (pw && others.length > 0) {
    const ok = others.every((o) => pw.rssPerPoll < o.rssPerPoll);
    out.push(`| memory per held long-poll below Socket.IO polling's and sockjs xhr-polling's | webim ${kib(pw.rssPerPoll)} KiB; ${others.map((o) => `${o.server} ${kib(o.rssPerPoll)} KiB`).join('; ')} | ${memVerdict(ok, [pw, ...others])} |`);
  }
  return out;
}

/** A p99 over the answered pings only, unless more than 1% went unanswered: then the 99th percentile is "never". */
function p99Of(r: Rtt): number {
  return r.lost > 0.01 * (r.samples + r.lost) ? Infinity : r.p99;
}

function rttText(r: Rtt): string {
  if (r.samples === 0) return `none of ${r.lost} answered`;
  return p99Of(r) === Infinity ? `${ms(r.p99)} ms over the answered, ${r.lost} of ${r.samples + r.lost} unanswered` : `${ms(r.p99)} ms`;
}
