/**
 * What the Comet transport does for browsers that cannot read its answers
 * (issue 22): a send numbered with `b` (a form posted into a hidden iframe
 * of another origin) is answered with a page, handed on once however often
 * it comes, and reported in the poll as `received`, refusals included; a
 * form's field has the message limit after decoding; `xdr=1` answers every
 * status as 200 for XDomainRequest; and a page of an origin not allowed is
 * refused by its Referer where it sends no Origin (JSONP, SockJS's JSONP).
 */
import t from 'tap';
import { parseJsonp } from './helpers/comet-client.js';
import { loggedIn, openSession, raw, type Session } from './helpers/comet-raw.js';
import { startServer } from './helpers/server.js';

const QUICK = { pollTimeout: 300, sessionTimeout: 60000 };

/** A form post of `text` as field d, numbered `b`, as the page's JSONP mode sends it. */
function formPost(s: Session, b: number, text: string) {
  return raw(s.base, 'send', { method: 'POST', type: 'application/x-www-form-urlencoded', body: new URLSearchParams({ d: text }).toString(), query: { sid: s.sid, b: String(b) } });
}

t.test('numbered form posts: a page for an answer, handed on once, told in the poll', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  const { s } = await loggedIn(srv.url, 'Numbers');
  const first = await s.poll();
  t.equal((first as { received?: number }).received, undefined, 'no `received` before a numbered send');

  const ping = JSON.stringify([{ cmd: 'ping', ts: 1 }]);
  const r = await formPost(s, 1, ping);
  t.equal(r.status, 200);
  t.match(r.headers.get('content-type'), /^text\/html/, 'answered as a page (IE offers to download JSON in a frame)');
  t.match(r.text, /\{"ok":true\}/);
  const again = await formPost(s, 1, ping);
  t.equal(again.status, 200, 'a repeat is answered as well');
  const pongs = [];
  let received = 0;
  for (let i = 0; i < 3; i++) {
    const answer = (await s.poll()) as { received?: number; frames: Array<{ seq: number; msg: { cmd: string } }> };
    received = Math.max(received, answer.received ?? 0);
    for (const f of answer.frames) {
      s.ack = Math.max(s.ack, f.seq);
      if (f.msg.cmd === 'pong') pongs.push(f.msg);
    }
  }
  t.equal(received, 1, 'the poll tells `received: 1`');
  t.equal(pongs.length, 1, 'the repeat was not handed on again');

  // A receipt alone (nothing to send back) answers a held poll at once.
  const held = s.poll();
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await formPost(s, 2, '[]');
  const answer = (await held) as { received?: number };
  t.equal(answer.received, 2, 'the held poll tells of batch 2');
  t.ok(Date.now() - started < 250, 'at once, not at the poll timeout');
});

t.test('a refused numbered post is told in the poll as an error, and counts as received', async (t) => {
  const srv = await startServer({ ...QUICK, maxMessageSize: 2048 });
  t.teardown(() => srv.close());
  const { s } = await loggedIn(srv.url, 'Refused');
  const huge = await formPost(s, 1, JSON.stringify([{ cmd: 'ping', pad: 'x'.repeat(3000) }]));
  t.equal(huge.status, 413);
  t.match(huge.headers.get('content-type'), /^text\/html/);
  const bad = await formPost(s, 2, '[{nope');
  t.equal(bad.status, 400);
  const tooLong = await raw(s.base, 'send', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'd=' + 'x'.repeat(7000), query: { sid: s.sid, b: '3' } });
  t.equal(tooLong.status, 413, 'a form body over three times the limit is refused while it is read');
  const errors: string[] = [];
  let received = 0;
  for (let i = 0; i < 3 && errors.length < 3; i++) {
    const answer = (await s.poll()) as { received?: number; frames: Array<{ seq: number; msg: { cmd: string; code?: string } }> };
    received = Math.max(received, answer.received ?? 0);
    for (const f of answer.frames) {
      s.ack = Math.max(s.ack, f.seq);
      if (f.msg.cmd === 'error') errors.push(f.msg.code ?? '');
    }
  }
  t.same(errors, ['too_large', 'bad_json', 'too_large'], 'each refusal reaches the page through its poll');
  t.equal(received, 3, 'and counts as received, so the page does not send it again');
});

t.test('a form field is measured after decoding: the longest message fits, in any script', async (t) => {
  const srv = await startServer(QUICK);
  t.teardown(() => srv.close());
  const { s } = await loggedIn(srv.url, 'Zhang');
  const body = '😀'.repeat(4096);
  // As the page sends it: JSON with everything past ASCII escaped, whatever the charset of the page that posts it.
  const json = JSON.stringify([{ cmd: 'send', to: { room: 'lobby' }, type: 'text', body, cid: 'long-1' }]);
  const text = json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const form = new URLSearchParams({ d: text }).toString();
  t.ok(form.length > 65536, `the form body (${form.length} bytes) is over the 64 KiB message limit`);
  t.ok(Buffer.byteLength(text) <= 65536, 'the message itself is not');
  const r = await formPost(s, 1, text);
  t.equal(r.status, 200);
  const msg = await s.until((m) => m.cmd === 'message');
  t.equal(msg.body, body, 'the message arrived whole');
});

t.test('xdr=1: every answer is 200, for XDomainRequest, which reads no other', async (t) => {
  const allowed = 'http://site.example';
  const srv = await startServer({ ...QUICK, allowedOrigins: [allowed] });
  t.teardown(() => srv.close());
  const gone = await raw(srv.url, 'poll', { query: { sid: 'A'.repeat(22), ack: '0', xdr: '1' }, headers: { origin: allowed } });
  t.equal(gone.status, 200);
  t.same(gone.body, { error: 'unknown_session' });
  t.equal(gone.headers.get('access-control-allow-origin'), allowed);
  const refused = await raw(srv.url, 'open', { query: { xdr: '1' }, headers: { origin: 'http://evil.example' } });
  t.equal(refused.status, 200);
  t.same(refused.body, { error: 'forbidden' });
  t.equal(refused.headers.get('access-control-allow-origin'), 'http://evil.example', 'readable by the refused page, which says so');
  const plain = await raw(srv.url, 'open', { headers: { origin: 'http://evil.example' } });
  t.equal(plain.status, 403, 'without xdr=1 the status is the usual one');
});

t.test('no Origin header: the Referer\'s origin is checked', async (t) => {
  const allowed = 'http://site.example';
  const srv = await startServer({ ...QUICK, allowedOrigins: [allowed] });
  t.teardown(() => srv.close());
  const open = (headers: Record<string, string>) => raw(srv.url, 'open', { query: { callback: 'cb' }, headers });
  const refused = await open({ referer: 'http://evil.example/page.html?x=1' });
  t.same(parseJsonp(refused.text, 'cb'), { error: 'forbidden' }, 'a script tag on a page not allowed is refused');
  const fine = await open({ referer: 'http://site.example/chat/' });
  t.match(parseJsonp(fine.text, 'cb'), { sid: String }, 'on an allowed page it opens a session');
  const own = await open({ referer: `${srv.url}/` });
  t.match(parseJsonp(own.text, 'cb'), { sid: String }, 'the server\'s own page too');
  const none = await open({});
  t.match(parseJsonp(none.text, 'cb'), { sid: String }, 'no Referer either: not a browser, let in');
  const s = await openSession(srv.url);
  const form = await raw(srv.url, 'send', {
    method: 'POST',
    type: 'application/x-www-form-urlencoded',
    body: 'd=%5B%5D',
    query: { sid: s.sid, b: '1' },
    headers: { referer: 'http://evil.example/' },
  });
  t.equal(form.status, 403, 'an old IE form post from a page not allowed is refused');

  const info = await fetch(`${srv.url}/sockjs/info`, { headers: { referer: 'http://evil.example/' } });
  t.equal(info.status, 403, 'SockJS refuses it too');
  const jsonp = await fetch(`${srv.url}/sockjs/000/abcdefgh/jsonp?c=cb`, { headers: { referer: 'http://evil.example/' } });
  t.equal(jsonp.status, 403, 'SockJS\'s jsonp-polling from a page not allowed');
  const ok = await fetch(`${srv.url}/sockjs/000/abcdefgi/jsonp?c=cb`, { headers: { referer: 'http://site.example/' } });
  t.equal(ok.status, 200, 'and lets an allowed page in');
});
