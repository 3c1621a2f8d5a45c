/**
 * `/embed.js`: the chat inside a page of another site (docs/embedding.md).
 * A site puts `<script src="https://chat.example.com/embed.js"></script>`
 * where the chat should appear; the script writes the chat's UI there and
 * loads the stylesheet, the polyfills, `/webim.js` and the page scripts
 * from the chat's origin, which it reads from its own URL. The UI is the
 * one of the page at `/`, taken from public/index.html when the server
 * starts, so that the two never differ. document.write keeps the scripts in
 * order and synchronous in every browser down to IE6 (the page scripts
 * find the chat's origin from their own URLs); it is why the tag must not
 * be async or deferred.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

/** The scripts index.html loads, each a tag of its own (json3's conditional tag is written inside a script and is not one). */
const SCRIPT_TAG = /<script type="text\/javascript" src="([^"]+)"><\/script>/g;

export interface EmbedScript {
  body: string;
  etag: string;
  /** What it loads, in order (for the tests). */
  scripts: string[];
}

/** Builds embed.js from the page in `publicDir`; throws when the page is not shaped as expected. */
export function buildEmbedScript(publicDir: string): EmbedScript {
  const html = readFileSync(join(publicDir, 'index.html'), 'utf8');
  const scripts = [...html.matchAll(SCRIPT_TAG)].map((m) => m[1] as string);
  const bodyStart = html.indexOf('<body>');
  const firstScript = html.indexOf('<script', bodyStart);
  if (bodyStart < 0 || firstScript < 0 || !scripts.includes('webim.js')) throw new Error('public/index.html: no <body> with the chat\'s scripts');
  const markup = html.slice(bodyStart + '<body>'.length, firstScript).trim();
  // JSON.stringify gives an ES3 string literal once the two line ends ES3 forbids in one are escaped, and '</' is
  // broken up so that no '</script>' ends the script early when a page inlines it.
  const literal = (s: string) => JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029').replace(/<\//g, '<\\/');
  const body = `/* webim embed.js: the chat of public/index.html written into this page, its files from the chat's origin (src/http/embed.ts) */
(function (window) {
  var document = window.document, tags = document.getElementsByTagName('script');
  var base = tags[tags.length - 1].src.replace(/\\/embed\\.js([?#].*)?$/, '');
  var scripts = [${scripts.map(literal).join(', ')}], out = [], i;
  function script(src) { return '<script type="text/javascript" src="' + base + '/' + src + '"></' + 'script>'; }
  out.push('<link rel="stylesheet" type="text/css" href="' + base + '/style.css">');
  /* IE6-7 have no JSON: json3 first, as the page at / does */
  if (!window.JSON) out.push(script('polyfills/json3.min.js'));
  out.push(${literal(markup)});
  for (i = 0; i < scripts.length; i++) out.push(script(scripts[i]));
  document.write(out.join(''));
})(window);
`;
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, etag, scripts };
}

/** Registered before the static files: `/embed.js`, revalidated like `/webim.js` so that a new release is seen at once. */
export default async function embedScript(app: FastifyInstance, opts: { publicDir: string }): Promise<void> {
  const { body, etag } = buildEmbedScript(opts.publicDir);
  app.get('/embed.js', async (req, reply) => {
    void reply.header('ETag', etag).header('Cache-Control', 'no-cache').header('X-Content-Type-Options', 'nosniff');
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('application/javascript; charset=utf-8').send(body);
  });
}
