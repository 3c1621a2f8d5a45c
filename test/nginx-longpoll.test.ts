/**
 * A Comet long-poll held longer than nginx's default 60 s read timeout
 * survives the generated configuration (issue #6), and delivers: the node
 * holds polls for 70 s here, a message arrives after 61 s, and the poll
 * that has been open all that time through nginx carries it. A control
 * shows that the read timeout in the file is what decides: with
 * `--read-timeout 2` the same kind of poll gets nginx's 504 after 2 s.
 *
 * This file takes about 65 s; tap runs it beside the others.
 */
import t from 'tap';
import type { Msg } from './helpers/client.js';
import { httpFrom, type LocalReply } from './helpers/local-http.js';
import { freePort, generateConfig, requireNginx, startNginx } from './helpers/nginx.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login, sendText } from './scenarios/chat.js';

const HOLD_MS = 70_000;
const DELIVER_AFTER_MS = 61_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface PollAnswer {
  seq: number;
  frames: Array<{ seq: number; msg: Msg }>;
}

async function run(nginx: string): Promise<void> {
  t.test('a poll held past 60 s through nginx stays open and delivers', async (t) => {
    const nodePort = await freePort();
    const proxyPort = await freePort();
    const base = `http://127.0.0.1:${proxyPort}`;
    // The defaults of webim start: the read timeout is computed from them (75 s), not given.
    const site = generateConfig(['--server-name', 'localhost', '--upstream', `127.0.0.1:${nodePort}`, '--listen', `127.0.0.1:${proxyPort}`]);
    t.match(site, /proxy_read_timeout 75s;/, 'three times the longest quiet time of a node with the defaults');
    const proxy = await startNginx(nginx, site, proxyPort);
    t.teardown(() => proxy.stop());
    // Held longer than the defaults allow (--poll-timeout stops at 55 s); the config is built directly here.
    const s = await startServer({ port: nodePort, trustProxy: ['127.0.0.1'], pollTimeout: HOLD_MS });
    t.teardown(() => s.close());

    const call = async (path: string, body?: unknown) => {
      const r = await httpFrom(`${base}/comet/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.text}`);
      return JSON.parse(r.text) as PollAnswer & { sid: string; timeout: number };
    };
    const { c: sender } = await login(wsConnect(`http://127.0.0.1:${nodePort}`), 'Sender');
    const { sid, timeout } = await call('open', {});
    t.equal(timeout, HOLD_MS);
    await call(`send?sid=${sid}`, [{ cmd: 'login', name: 'Patient' }]);
    // Polls answered at once (the login and what it set off) are acked, until one is held: that one is timed.
    let ack = 0;
    let loggedIn = false;
    let started = 0;
    let held: Promise<LocalReply> | undefined;
    for (let i = 0; i < 20 && held === undefined; i++) {
      started = Date.now();
      const poll = httpFrom(`${base}/comet/poll?sid=${sid}&ack=${ack}`);
      const quick = await Promise.race([poll, sleep(500).then(() => undefined)]);
      if (quick === undefined) {
        held = poll;
        break;
      }
      const answer = JSON.parse(quick.text) as PollAnswer;
      loggedIn ||= answer.frames.some((f) => f.msg.cmd === 'login');
      ack = answer.seq;
    }
    t.ok(loggedIn, 'logged in over Comet through nginx');
    if (held === undefined) throw new Error('no poll was held');
    const timer = setTimeout(() => sendText(sender, { user: 'patient' }, 'still there?'), DELIVER_AFTER_MS - (Date.now() - started));
    t.teardown(() => clearTimeout(timer));
    const r = await held;
    const elapsed = Date.now() - started;
    t.equal(r.status, 200, `answered by the node, not cut by nginx (${r.status} after ${elapsed} ms: ${r.text.slice(0, 200)})`);
    t.ok(elapsed >= DELIVER_AFTER_MS && elapsed < HOLD_MS, `held ${elapsed} ms, past nginx's default 60 s`);
    const answer = JSON.parse(r.text) as PollAnswer;
    t.ok(answer.frames.some((f) => f.msg.cmd === 'message' && f.msg.body === 'still there?'), 'the held poll carries the message');
    sender.close();
  });

  t.test('control: the read timeout in the file is what nginx applies', async (t) => {
    const nodePort = await freePort();
    const proxyPort = await freePort();
    const base = `http://127.0.0.1:${proxyPort}`;
    const site = generateConfig(['--server-name', 'localhost', '--upstream', `127.0.0.1:${nodePort}`, '--listen', `127.0.0.1:${proxyPort}`, '--read-timeout', '2']);
    t.match(site, /proxy_read_timeout 2s;/);
    const proxy = await startNginx(nginx, site, proxyPort);
    t.teardown(() => proxy.stop());
    const s = await startServer({ port: nodePort, trustProxy: ['127.0.0.1'], pollTimeout: 5000 });
    t.teardown(() => s.close());
    const open = await httpFrom(`${base}/comet/open`, { method: 'POST' });
    const { sid } = JSON.parse(open.text) as { sid: string };
    const started = Date.now();
    const r = await httpFrom(`${base}/comet/poll?sid=${sid}&ack=0`);
    const elapsed = Date.now() - started;
    t.equal(r.status, 504, 'nginx gave up on the held poll');
    t.ok(elapsed >= 1900 && elapsed < 4500, `after ${elapsed} ms, the 2 s in the file`);
  });
}

const nginx = requireNginx(t);
if (nginx !== undefined) await run(nginx);
