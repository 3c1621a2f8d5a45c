/**
 * Seeded protocol fuzz (issue 7): hostile frames of every command of
 * docs/protocol.md section 2 (wrong types, missing and extra fields, deep
 * nesting, `__proto__` and `constructor` keys, huge numbers, NUL and lone
 * surrogates, text that is no JSON, binary frames) go over a real
 * WebSocket to an in-process server, on a logged-in connection and on a
 * fresh one.
 *
 * How replies are matched: messages of one connection are processed in
 * order (section 1), so each fuzzed frame is followed by a `ping` with a
 * unique `ts`; everything between the frame and that `pong` answers the
 * frame, except an `ack` (sent once the store commits), which is awaited by
 * its `cid`. The property: exactly one reply (`typing`: none, or one
 * error), either an `error` with a code of the protocol and the right
 * `ref`, or the answer section 2 promises in the shape section 3 gives it.
 * `internal` counts as a failure: it means a handler threw. Afterwards a
 * fresh client still logs in and chats.
 *
 * WEBIM_FUZZ_SEED and WEBIM_FUZZ_RUNS override the fixed seed and run count.
 */
import fc from 'fast-check';
import t from 'tap';
import { nestedDeeper } from '../src/core/validate.js';
import { ErrorCodes } from '../src/errors.js';
import type { Frame } from '../src/types.js';
import type { Msg } from './helpers/client.js';
import { COMMANDS, frame, type FuzzFrame, TOKEN_PLACEHOLDER } from './helpers/fuzz-frames.js';
import { Probe } from './helpers/probe.js';
import { startServer } from './helpers/server.js';

const SEED = Number(process.env.WEBIM_FUZZ_SEED ?? 20261202);
const RUNS = Number(process.env.WEBIM_FUZZ_RUNS ?? 5000);
/** Codes an `error` frame may carry: docs/protocol.md's list, less `internal` (a handler threw: a bug). */
const WIRE_CODES = new Set(Object.keys(ErrorCodes).filter((c) => c !== 'conflict' && c !== 'internal'));
const PRE_LOGIN = new Set(['login', 'ping', 'logout']);
const ANSWERS = new Set(['error', 'ack', 'login', 'joined', 'left', 'history', 'online', 'pong', 'bye']);

type Expected = { kind: 'bad_json' } | { kind: 'not_object' } | { kind: 'command'; frame: Frame; ref: string };

/**
 * The `cid` of a `send` that the server may echo as an error's `ref`: one
 * docs/protocol.md allows (1-64 characters; well-formed and without NUL, as
 * every client string). Any other is not echoed: `ref` is then the `cmd`.
 */
function echoedCid(f: Frame): string | undefined {
  const cid = f.cid;
  if (f.cmd !== 'send' || typeof cid !== 'string' || !cid.isWellFormed() || cid.includes('\u0000')) return undefined;
  const n = [...cid].length;
  return n >= 1 && n <= 64 ? cid : undefined;
}

/** What the server must make of the text it reads, by docs/protocol.md section 1. */
function expected(text: string): Expected {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'bad_json' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || typeof (parsed as Frame).cmd !== 'string') {
    return { kind: 'not_object' };
  }
  const f = parsed as Frame;
  return { kind: 'command', frame: f, ref: echoedCid(f) ?? f.cmd.slice(0, 64) };
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isUser = (u: unknown): boolean => {
  const o = u as Record<string, unknown> | null;
  return typeof o === 'object' && o !== null && isString(o.id) && isString(o.name) && isString(o.avatar) && isString(o.status);
};
const users = (v: unknown): boolean => Array.isArray(v) && v.every(isUser);

/** Whether `m` is the answer section 2 promises for `f`, in the shape of section 3. */
function isAnswer(f: Frame, m: Msg, me: string | undefined): boolean {
  switch (f.cmd) {
    case 'login':
      return m.cmd === 'login' && isUser(m.user) && isString(m.token) && users(m.online) && Array.isArray(m.rooms)
        && Array.isArray(m.joined) && typeof m.heartbeat === 'number' && typeof m.recovered === 'boolean';
    case 'send':
      return m.cmd === 'ack' && m.cid === f.cid && isString(m.id) && isString(m.channel)
        && Number.isSafeInteger(m.offset) && (m.offset as number) >= 1 && typeof m.ts === 'number';
    case 'join':
      return m.cmd === 'joined' && m.room === f.room && users(m.members) && Array.isArray(m.history);
    case 'leave':
      return m.cmd === 'left' && m.room === f.room;
    case 'history':
      return m.cmd === 'history' && m.channel === f.channel && Array.isArray(m.messages) && typeof m.more === 'boolean';
    case 'online':
      return m.cmd === 'online' && users(m.users) && m.room === f.room;
    case 'status':
      return m.cmd === 'presence' && m.event === 'status' && (m.user as { id?: string }).id === me && (m.user as { status?: string }).status === f.status;
    case 'ping':
      return m.cmd === 'pong' && (f.ts === undefined || f.ts === null ? typeof m.ts === 'number' : JSON.stringify(m.ts) === JSON.stringify(f.ts));
    case 'logout':
      return m.cmd === 'bye' && m.code === 'logout' && m.reconnect === false;
    default:
      return false;
  }
}

/** Why the frames received answer `exp` wrongly, or undefined when they are right. */
function problem(exp: Expected, got: Msg[], me: string | undefined, loggedIn: boolean): string | undefined {
  const replies = got.filter((m) => ANSWERS.has(m.cmd) || (m.cmd === 'presence' && m.event === 'status' && (m.user as { id?: string }).id === me));
  const optional = exp.kind === 'command' && exp.frame.cmd === 'typing' && loggedIn;
  if (replies.length === 0 && optional) return undefined;
  if (replies.length !== 1) return `${replies.length} replies: ${JSON.stringify(replies).slice(0, 300)}`;
  const r = replies[0] as Msg;
  if (r.cmd === 'error') {
    if (!isString(r.code) || !WIRE_CODES.has(r.code)) return `error code ${String(r.code)} is not one the protocol allows`;
    if (!isString(r.message)) return 'error without a message';
    if (exp.kind === 'bad_json') return r.code === 'bad_json' ? undefined : `${r.code} instead of bad_json`;
    if (exp.kind === 'not_object') return r.code === 'bad_request' ? undefined : `${r.code} instead of bad_request`;
    if (r.ref !== exp.ref) return `ref ${JSON.stringify(r.ref)?.slice(0, 80)} instead of ${JSON.stringify(exp.ref).slice(0, 80)}`;
    const cmd = exp.frame.cmd;
    if (!loggedIn && !PRE_LOGIN.has(cmd)) return r.code === 'not_logged_in' ? undefined : `${r.code} before login`;
    if (!(COMMANDS as readonly string[]).includes(cmd) && r.code !== 'unknown_cmd' && r.code !== 'bad_request') return `${r.code} for an unknown cmd`;
    return undefined;
  }
  if (exp.kind !== 'command' || (!loggedIn && !PRE_LOGIN.has(exp.frame.cmd))) return `answered ${r.cmd} instead of an error`;
  return isAnswer(exp.frame, r, me) ? undefined : `not a valid answer to ${exp.frame.cmd}: ${JSON.stringify(r).slice(0, 300)}`;
}

let markers = 0;

/** Sends one frame, then a marker ping; resolves with every frame that answered it. */
async function exchange(p: Probe, data: string | Buffer, exp: Expected): Promise<Msg[]> {
  const from = p.received.length;
  const marker = `@@marker@@${++markers}@@ longer than any fuzzed ts`;
  p.send(data);
  p.send(JSON.stringify({ cmd: 'ping', ts: marker }));
  const isMarker = (m: Msg) => m.cmd === 'pong' && m.ts === marker;
  let got = await p.until(from, (s) => s.some(isMarker));
  const cid = exp.kind === 'command' ? echoedCid(exp.frame) : undefined;
  const settles = (m: Msg) => (m.cmd === 'ack' && m.cid === cid) || (m.cmd === 'error' && m.ref === cid);
  // A send that passed validation is answered at its commit, which may come after the marker.
  if (cid !== undefined && !p.closed && !got.some(settles)) {
    got = await p.until(from, (s) => s.some(settles), 3000);
  }
  return got.filter((m) => !isMarker(m));
}

t.test(`protocol fuzz over WebSocket (seed ${SEED}, ${RUNS} runs)`, async (t) => {
  t.comment(`fast-check seed ${SEED}; rerun with WEBIM_FUZZ_SEED=${SEED}`);
  const s = await startServer({ rateLimit: 1e6, rateBurst: 1e6 });
  t.teardown(() => s.close());
  const peer = await Probe.open(s.url);
  await peer.login('Peer');
  t.teardown(() => peer.close());

  let logged = await Probe.open(s.url);
  let token = (await logged.login('Fuzzer')).token as string;
  let fresh = await Probe.open(s.url);
  t.teardown(() => {
    logged.close();
    fresh.close();
  });

  /** Runs one frame on one of the two connections; the problem, or undefined. Reopens what the frame closed or logged in. */
  const check = async (f: FuzzFrame, onFresh: boolean): Promise<{ problem?: string; reply?: Msg }> => {
    const data = 'text' in f ? f.text.replaceAll(TOKEN_PLACEHOLDER, JSON.stringify(token)) : f.binary;
    const exp = expected(typeof data === 'string' ? data : data.toString('utf8'));
    const p = onFresh ? fresh : logged;
    const got = await exchange(p, data, exp);
    const why = problem(exp, got, onFresh ? undefined : 'fuzzer', !onFresh);
    const reply = got.find((m) => ANSWERS.has(m.cmd) || m.cmd === 'presence');
    if (p.closed && !got.some((m) => m.cmd === 'bye')) return { problem: `closed (${p.closedCode}) without a bye`, reply };
    if (onFresh && (p.closed || got.some((m) => m.cmd === 'login'))) {
      fresh.close();
      fresh = await Probe.open(s.url);
    } else if (!onFresh && p.closed) {
      logged = await Probe.open(s.url);
      // The name stays held for the Fuzzer identity: back in with its token.
      token = (await logged.login('Fuzzer', token)).token as string;
    }
    return { problem: why, reply };
  };

  const deep = '['.repeat(10000) + ']'.repeat(10000);
  const send = (extra: string) => `{"cmd":"send","to":{"room":"lobby"},"type":"text","body":"hi","cid":"x${++markers}"${extra}}`;
  const cases: Array<[string, FuzzFrame, string, boolean?]> = [
    ['10,000 nested arrays as the whole message', { text: deep }, 'bad_request'],
    ['10,000 nested arrays as the ts a ping echoes', { text: `{"cmd":"ping","ts":${deep}}` }, 'bad_request'],
    ['10,000 nested arrays in a login resume', { text: `{"cmd":"login","name":"Deep","resume":${deep}}` }, 'bad_request', true],
    ['a __proto__ key beside a send', { text: send(',"__proto__":{"admin":true,"from":{"id":"peer"}}') }, 'ack'],
    ['cmd only under __proto__', { text: '{"__proto__":{"cmd":"ping"}}' }, 'bad_request'],
    ['cmd "constructor"', { text: '{"cmd":"constructor"}' }, 'unknown_cmd'],
    ['cmd "__proto__"', { text: '{"cmd":"__proto__"}' }, 'unknown_cmd'],
    ['to.constructor', { text: '{"cmd":"send","to":{"constructor":"lobby"},"type":"text","body":"hi","cid":"k1"}' }, 'bad_request'],
    ['limit 1e308', { text: '{"cmd":"history","channel":"room:lobby","limit":1e308}' }, 'bad_request'],
    ['limit 1e999 (Infinity)', { text: '{"cmd":"history","channel":"room:lobby","limit":1e999}' }, 'bad_request'],
    ['limit -0', { text: '{"cmd":"history","channel":"room:lobby","limit":-0}' }, 'bad_request'],
    ['limit "NaN"', { text: '{"cmd":"history","channel":"room:lobby","limit":"NaN"}' }, 'bad_request'],
    ['before 2^53+1', { text: '{"cmd":"history","channel":"room:lobby","before":9007199254740993}' }, 'bad_request'],
    ['a lone surrogate in a body', { text: send('').replace('"hi"', '"\\ud800"') }, 'bad_request'],
    ['NUL in a name', { text: '{"cmd":"login","name":"a\\u0000b"}' }, 'bad_request', true],
    // No store may get a NUL (PostgreSQL refuses it in text): refused in every string of a send.
    ['NUL in a body', { text: send('').replace('"hi"', '"a\\u0000b"') }, 'bad_request'],
    ['NUL in a cid (not echoed)', { text: send('').replace(/"cid":"x(\d+)"/, '"cid":"x$1\\u0000"') }, 'bad_request'],
    ['NUL in to.user', { text: send('').replace('{"room":"lobby"}', '{"user":"pe\\u0000er"}') }, 'bad_request'],
    ['a cid of 5,000 characters (not echoed)', { text: send('').replace(/"cid":"x/, `"cid":"${'y'.repeat(5000)}`) }, 'bad_request'],
    ['a binary frame of random bytes', { binary: Buffer.from([0xff, 0x00, 0xfe, 0x7b]) }, 'bad_json'],
    ['a binary frame holding a ping', { binary: Buffer.from('{"cmd":"ping","ts":5}') }, 'pong'],
    ['text that is no JSON', { text: 'hello' }, 'bad_json'],
    ['duplicate cmd keys: the last wins', { text: '{"cmd":"nope","cmd":"ping","ts":1}' }, 'pong'],
    ['a send before login', { text: send('') }, 'not_logged_in', true],
  ];
  for (const [label, f, want, onFresh] of cases) {
    const { problem: why, reply } = await check(f, onFresh === true);
    t.equal(why, undefined, `${label}: one valid reply`);
    t.equal(reply?.cmd === 'error' ? reply.code : reply?.cmd, want, `${label}: ${want}`);
  }

  let runs = 0;
  const started = Date.now();
  /** What the fuzzed frames were answered with, so the log shows the fuzz reached past validation. */
  const outcomes = new Map<string, number>();
  try {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), frame, async (onFresh, f) => {
        runs++;
        const { problem: why, reply } = await check(f, onFresh);
        if (why !== undefined) throw new Error(why);
        const key = reply === undefined ? '(none)' : reply.cmd === 'error' ? String(reply.code) : reply.cmd;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    t.pass(`${runs} fuzzed frames, each answered exactly once (${Date.now() - started} ms)`);
    t.comment(`answers: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    for (const answer of ['ack', 'login', 'joined', 'left', 'history', 'online', 'pong', 'presence', 'bye', 'bad_json', 'bad_request', 'unknown_cmd']) {
      t.ok((outcomes.get(answer) ?? 0) > 0, `the fuzz reached a ${answer}`);
    }
  } catch (err) {
    t.fail(String(err instanceof Error ? err.message : err).slice(0, 4000));
  }

  // The server survived: a new client logs in and chats, and /healthz answers.
  const after = await Probe.open(s.url);
  t.teardown(() => after.close());
  await after.login('Afterwards');
  const from = after.received.length;
  after.send(JSON.stringify({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'still here', cid: 'after-1' }));
  const got = await after.until(from, (m) => m.some((x) => x.cmd === 'message' && x.body === 'still here'));
  t.ok(got.some((m) => m.cmd === 'ack' && m.cid === 'after-1'), 'a fresh client is acked after the fuzz');
  t.equal((await fetch(`${s.url}/healthz`)).status, 200, '/healthz answers 200');
  t.equal(s.server.hub.stats.errors.get('internal')?.n, 0, 'no command ended in an internal error');
});

t.test('10,000 nested arrays in a Comet or SockJS send body: bad_request, and the next message still goes through', async (t) => {
  const s = await startServer();
  t.teardown(() => s.close());
  const deep = '['.repeat(10000) + ']'.repeat(10000);

  const { sid } = (await (await fetch(`${s.url}/comet/open`, { method: 'POST' })).json()) as { sid: string };
  const sent = await fetch(`${s.url}/comet/send?sid=${sid}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `[{"cmd":"ping","ts":${deep}},${deep},{"cmd":"ping","ts":3}]`,
  });
  t.equal(sent.status, 200, 'Comet: the send is taken');
  const poll = (await (await fetch(`${s.url}/comet/poll?sid=${sid}&ack=0`)).json()) as { frames: Array<{ msg: Msg }> };
  t.same(
    poll.frames.map((f) => (f.msg.cmd === 'error' ? f.msg.code : f.msg.cmd)),
    ['bad_request', 'bad_request', 'pong'],
    'Comet: each deep message gets bad_request, the ping after them its pong',
  );

  const base = `${s.url}/sockjs/000/deepfuzz`;
  t.equal((await (await fetch(`${base}/xhr`, { method: 'POST' })).text()).trim(), 'o', 'SockJS: session open');
  const body = JSON.stringify([JSON.stringify({ cmd: 'ping', ts: 1 })]).replace(/^\[/, `[${deep},`);
  t.equal((await fetch(`${base}/xhr_send`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } })).status, 204, 'SockJS: the send is taken');
  const frames: Msg[] = [];
  for (let i = 0; i < 5 && frames.length < 2; i++) {
    const text = (await (await fetch(`${base}/xhr`, { method: 'POST' })).text()).trim();
    if (text.startsWith('a')) for (const m of JSON.parse(text.slice(1)) as string[]) frames.push(JSON.parse(m) as Msg);
  }
  t.same(frames.map((m) => (m.cmd === 'error' ? m.code : m.cmd)), ['bad_request', 'pong'], 'SockJS: bad_request, then the pong');
});

t.test('the nesting guard walks any depth without recursion, and lets every real command through', async (t) => {
  let deep: unknown = 1;
  for (let i = 0; i < 200000; i++) deep = [deep];
  t.equal(nestedDeeper(deep, 16), true, '200,000 levels: refused, no stack overflow');
  t.equal(nestedDeeper([[[]]], 3), false, 'three levels pass a limit of three');
  t.equal(nestedDeeper([[[[]]]], 3), true, 'four do not');
  t.equal(nestedDeeper({ cmd: 'login', name: 'A', resume: { cursors: { 'room:lobby': 1 } } }, 16), false, 'login with resume');
  t.equal(nestedDeeper({ cmd: 'send', to: { room: 'lobby' }, type: 'text', body: 'x', cid: 'c' }, 16), false, 'send');
});
