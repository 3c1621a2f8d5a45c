// The same site as site.php, in Node with nothing but its standard library:
// login from the site's session cookie, a word filter, an offline log
// (docs/hooks.md).
//
//   WEBIM_HOOK_SECRET=... OFFLINE_LOG=/tmp/offline.log PORT=8091 node site.mjs
//   webim start --hook-url http://127.0.0.1:8091/webim-hooks --hook-secret "$WEBIM_HOOK_SECRET"
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';

const SECRET = process.env.WEBIM_HOOK_SECRET ?? '';
const WORDS = /\b(darn|heck)\b/gi;
/** The site's sessions: cookie value -> user (a real site keeps them in its session store). */
const sessions = new Map();

function verified(headers, body) {
  const ts = headers['x-webim-timestamp'] ?? '';
  const sig = Buffer.from(headers['x-webim-signature'] ?? '');
  const expected = Buffer.from('sha256=' + createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex'));
  if (!/^\d{1,12}$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  return sig.length === expected.length && timingSafeEqual(sig, expected);
}

function hook(call) {
  if (call.hook === 'login') {
    const sid = /(?:^|;\s*)site_session=([\w-]+)/.exec(call.headers?.cookie ?? '')?.[1];
    const user = sid && sessions.get(sid);
    return user ? { result: 'accept', user } : { result: 'reject', reason: 'log in on the site first' };
  }
  if (call.hook === 'publish') {
    const body = String(call.body).replace(WORDS, '****');
    return body === call.body ? { result: 'accept' } : { result: 'replace', body };
  }
  const line = JSON.stringify({ user: call.user, from: call.message.from.id, body: call.message.body });
  if (process.env.OFFLINE_LOG) appendFileSync(process.env.OFFLINE_LOG, line + '\n');
  else console.error(line);
  return { ok: true };
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://site');
  if (url.pathname === '/login') {
    // Stands in for the site's own login form.
    const sid = randomBytes(16).toString('hex');
    sessions.set(sid, { id: url.searchParams.get('user'), name: url.searchParams.get('name') });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, cookie: `site_session=${sid}` }));
    return;
  }
  if (url.pathname !== '/webim-hooks' || req.method !== 'POST') return void res.writeHead(404).end();
  let body = '';
  for await (const chunk of req) body += chunk;
  if (!verified(req.headers, body)) return void res.writeHead(401).end();
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(hook(JSON.parse(body))));
});
server.listen(Number(process.env.PORT ?? 8091), '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
