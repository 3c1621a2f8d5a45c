/**
 * `/embed.js` (docs/embedding.md): the script a site includes to show the
 * chat. It is ES3 (it runs in IE6), writes the very UI of public/index.html
 * and loads every script that page loads, in the same order, from the
 * chat's origin; it is revalidated like /webim.js. The browser side (a
 * host page of another origin in modern, IE8-9 and IE6-7 modes) is
 * browser-embed.test.ts.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'acorn';
import t from 'tap';
import { buildEmbedScript } from '../src/http/embed.js';
import { startServer } from './helpers/server.js';

const PUBLIC = fileURLToPath(new URL('../../public/', import.meta.url));

t.test('/embed.js writes the page\'s UI and loads its scripts', async (t) => {
  const s = await startServer();
  t.teardown(() => s.close());
  const res = await fetch(`${s.url}/embed.js`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/javascript/);
  t.equal(res.headers.get('cache-control'), 'no-cache');
  const body = await res.text();
  t.doesNotThrow(() => parse(body, { ecmaVersion: 3, sourceType: 'script', allowReserved: 'never' }), 'ES3');
  t.notMatch(body, /<\/script/i, 'no </script> that would end a page\'s inline copy early');
  const again = await fetch(`${s.url}/embed.js`, { headers: { 'if-none-match': res.headers.get('etag') ?? '' } });
  t.equal(again.status, 304, 'revalidates');

  const html = readFileSync(`${PUBLIC}index.html`, 'utf8');
  const { scripts } = buildEmbedScript(PUBLIC);
  const onPage = [...html.matchAll(/src="([^"]+\.js)"/g)].map((m) => m[1]).filter((src) => src !== 'polyfills/json3.min.js');
  t.same(scripts, onPage, 'every script the page loads, in its order');
  t.ok(scripts.indexOf('webim.js') < scripts.indexOf('app.js'), 'the library before the page');
  for (const testid of ['login-name', 'login-submit', 'conversation', 'composer', 'upload', 'me', 'transport']) {
    t.match(body, `data-testid=\\"${testid}\\"`, `the UI has ${testid}`);
  }
  t.match(body, /json3\.min\.js/, 'json3 where JSON is missing');
  t.match(body, /style\.css/, 'the stylesheet');
});
