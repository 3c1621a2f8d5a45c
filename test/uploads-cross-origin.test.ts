/**
 * Uploads from a page of another origin (issue 22): CORS for the allowed
 * origins, the origin check of every transport (by Referer where there is
 * no Origin, as for old IE's form post), and the outcome of an upload kept
 * under the page's key for the page that cannot read the answer (a hidden
 * iframe of another origin), which asks for it by JSONP.
 */
import sharp from 'sharp';
import t from 'tap';
import { parseJsonp } from './helpers/comet-client.js';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { login } from './scenarios/chat.js';

const SITE = 'http://site.example';

function form(data: Buffer): FormData {
  const f = new FormData();
  f.append('file', new Blob([data], { type: 'image/png' }), 'x.png');
  return f;
}

t.test('uploads from another origin', async (t) => {
  const s = await startServer({ allowedOrigins: [SITE] });
  t.teardown(() => s.close());
  const { c, me } = await login(wsConnect(s.url), 'Uma');
  t.teardown(() => c.close());
  const token = encodeURIComponent(me.token as string);
  const image = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } }).png().toBuffer();
  const upload = (query: string, headers: Record<string, string>, body: FormData | Buffer = form(image)) =>
    fetch(`${s.url}/upload?token=${token}${query}`, { method: 'POST', headers, body });

  const cors = await upload('', { origin: SITE, accept: 'application/json' });
  t.equal(cors.status, 200, 'an allowed origin uploads');
  t.equal(cors.headers.get('access-control-allow-origin'), SITE, 'and may read the answer (CORS)');
  t.match(await cors.json(), { url: /^\/uploads\// });

  const evil = await upload('', { origin: 'http://evil.example', accept: 'application/json' });
  t.equal(evil.status, 403, 'an origin not allowed is refused');
  t.match(await evil.json(), { error: 'forbidden' });
  const evilForm = await upload('', { referer: 'http://evil.example/page' });
  t.equal(evilForm.status, 403, 'by its Referer when it sends no Origin (an old IE form post)');

  // Old IE across origins: a form into a hidden iframe it cannot read, then the outcome by JSONP under its key.
  const framed = await upload('&key=k-0123456789', { referer: `${SITE}/chat.html` });
  t.equal(framed.status, 200);
  t.match(framed.headers.get('content-type'), /^text\/html/, 'the frame gets a page');
  const result = (key: string, who = token, callback = 'cb') =>
    fetch(`${s.url}/upload/result?token=${who}&key=${key}&callback=${callback}`, { headers: { referer: `${SITE}/chat.html` } });
  const got = await result('k-0123456789');
  t.equal(got.status, 200);
  t.match(got.headers.get('content-type'), /^application\/javascript/);
  const answer = parseJsonp(await got.text(), 'cb') as { url: string; thumb: string };
  t.match(answer, { url: /^\/uploads\/[A-Za-z0-9_-]{16}\.png$/, thumb: /_thumb\.png$/ }, 'the url the frame was told');
  t.equal((await fetch(`${s.url}${answer.url}`)).status, 200, 'and it is served');

  const bad = await upload('&key=k-notanimage', {}, form(Buffer.from('not an image')));
  t.equal(bad.status, 400);
  t.match(parseJsonp(await (await result('k-notanimage')).text(), 'cb'), { error: 'bad_request' }, 'a refusal is kept too');
  t.match(parseJsonp(await (await result('k-never-used')).text(), 'cb'), { error: 'not_found' }, 'an unknown key');
  const { c: other, me: otherMe } = await login(wsConnect(s.url), 'Ola');
  t.teardown(() => other.close());
  const stranger = await result('k-0123456789', encodeURIComponent(otherMe.token as string));
  t.match(parseJsonp(await stranger.text(), 'cb'), { error: 'not_found' }, 'another user does not find it');
  t.match(parseJsonp(await (await result('k-0123456789', 'nonsense')).text(), 'cb'), { error: 'unauthorized' }, 'nor does a bad token');
  const plain = await fetch(`${s.url}/upload/result?token=${token}&key=k-0123456789`, { headers: { origin: SITE } });
  t.equal(plain.headers.get('access-control-allow-origin'), SITE, 'as JSON with CORS too');
  t.match(await plain.json(), { url: answer.url });
  t.equal((await result('k-0123456789', token, 'alert(1)//')).status, 400, 'a callback that is no name gets no script');
});
