/**
 * `/webim.js` is built by the server from public/webim/*.js: one ES3 file
 * that defines WebIM.Client, revalidated by its ETag. Each part also runs
 * alone, after the ones before it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createContext, runInContext, type Context } from 'node:vm';
import { parse } from 'acorn';
import t from 'tap';
import { CLIENT_DIR, CLIENT_PARTS } from '../src/http/client-bundle.js';
import { startServer } from './helpers/server.js';

/** A context whose global is a minimal fake `window`: enough for the library to load and build a Client. */
function fakeWindow(): Context {
  const context = createContext({
    location: { protocol: 'http:', host: 'chat.example', search: '?transport=auto' },
    document: {},
    setTimeout,
    clearTimeout,
    addEventListener: () => undefined,
  });
  runInContext('this.window = this;', context);
  return context;
}

/** What the loaded library offers, read inside the context (plain strings cross it safely). */
function describe(context: Context): string {
  return String(runInContext(`(function () {
    var W = window.WebIM, c = new W.Client({ url: 'http://chat.example/' });
    return [typeof W.Client, typeof W.Client.prototype.login, typeof W.Client.prototype.send, W.version,
      W.channelOf({ room: 'lobby' }, 'u1'), W.dmChannel('b', 'a'), c.base, c.state, c.transports().join('+'),
      typeof W._jsonp].join(' ');
  })()`, context));
}

const EXPECTED = 'function function function 1 room:lobby dm:a:b http://chat.example offline comet object';

t.test('GET /webim.js: one ES3 file that defines WebIM.Client', async (t) => {
  const srv = await startServer();
  t.teardown(() => srv.close());

  const res = await fetch(`${srv.url}/webim.js`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type') ?? '', /^application\/javascript\b/);
  t.equal(res.headers.get('cache-control'), 'no-cache');
  const etag = res.headers.get('etag') ?? '';
  t.match(etag, /^"[^"]+"$/, 'a strong ETag');
  const body = await res.text();

  t.doesNotThrow(() => parse(body, { ecmaVersion: 3, sourceType: 'script', allowReserved: 'never' }), 'parses as ES3');
  let at = -1;
  for (const part of CLIENT_PARTS) {
    const where = body.indexOf(readFileSync(join(CLIENT_DIR, part), 'utf8'));
    t.ok(where > at, `holds ${part}, after the parts before it`);
    at = where;
  }

  const context = fakeWindow();
  runInContext(body, context, { filename: 'webim.js' });
  t.equal(runInContext('typeof window.WebIM.Client', context), 'function', 'window.WebIM.Client is a function');
  t.equal(describe(context), EXPECTED, 'and the parts work together');

  const again = await fetch(`${srv.url}/webim.js`, { headers: { 'if-none-match': etag } });
  t.equal(again.status, 304, '304 on If-None-Match with its ETag');
  t.equal(again.headers.get('etag'), etag);
  t.equal(await again.text(), '');
  const listed = await fetch(`${srv.url}/webim.js`, { headers: { 'if-none-match': `"other", W/${etag}` } });
  t.equal(listed.status, 304, 'also when listed among others, or weak');
  const stale = await fetch(`${srv.url}/webim.js`, { headers: { 'if-none-match': '"other"' } });
  t.equal(stale.status, 200, '200 with another ETag');
  t.equal(await stale.text(), body, 'the same body');
});

t.test('each part runs alone after the ones before it, and says so when loaded too early', async (t) => {
  const context = fakeWindow();
  for (const [i, part] of CLIENT_PARTS.entries()) {
    const source = readFileSync(join(CLIENT_DIR, part), 'utf8');
    if (i > 0) {
      t.throws(() => runInContext(source, fakeWindow(), { filename: part }), /must load after/, `${part} alone refuses to run`);
    }
    runInContext(source, context, { filename: part });
  }
  t.equal(describe(context), EXPECTED, 'loaded one by one, they make the same library');
});
