import type { FastifyRequest } from 'fastify';
import t from 'tap';
import WebSocket from 'ws';
import { originCheck } from '../src/common/origin.js';
import { raw } from './helpers/comet-raw.js';
import { startServer } from './helpers/server.js';

function req(host: string | undefined, protocol: 'http' | 'https' = 'http'): FastifyRequest {
  const headers: Record<string, string> = {};
  if (host !== undefined) headers.host = host;
  return { headers, protocol } as unknown as FastifyRequest;
}

const defaults = { allowedOrigins: [] as string[], publicUrl: '' };

t.test('by default only the server\'s own origin (scheme + Host) is allowed', async (tt) => {
  const check = originCheck(defaults);
  tt.equal(check('http://chat.example:8080', req('chat.example:8080')), true);
  tt.equal(check('https://chat.example', req('chat.example', 'https')), true);
  tt.equal(check('https://chat.example:8080', req('chat.example:8080')), false, 'scheme must match');
  tt.equal(check('http://chat.example:8080', req('chat.example:8080', 'https')), false);
  tt.equal(check('http://chat.example', req('chat.example:8080')), false, 'port must match');
  tt.equal(check('http://evil.example:8080', req('chat.example:8080')), false, 'another host');
  tt.equal(check('http://chat.example.evil:8080', req('chat.example:8080')), false);
  tt.equal(check('http://chat.example:8080', req(undefined)), false, 'no Host header: nothing to compare with');
  tt.equal(check('null', req('chat.example')), false, 'opaque origin');
});

t.test('comparison ignores case and a trailing slash', async (tt) => {
  const check = originCheck(defaults);
  tt.equal(check('HTTP://Chat.Example:8080', req('chat.example:8080')), true);
  tt.equal(check('http://chat.example:8080/', req('CHAT.EXAMPLE:8080')), true);
  tt.equal(check(' http://chat.example:8080 ', req('chat.example:8080')), true, 'surrounding space');
});

t.test('the allowed list adds origins, normalised, and keeps the own origin', async (tt) => {
  const check = originCheck({ allowedOrigins: ['https://App.Example/', 'http://localhost:3000'], publicUrl: '' });
  tt.equal(check('https://app.example', req('chat.example')), true);
  tt.equal(check('https://APP.example/', req('chat.example')), true);
  tt.equal(check('http://localhost:3000', req('chat.example')), true);
  tt.equal(check('http://localhost:3001', req('chat.example')), false);
  tt.equal(check('http://app.example', req('chat.example')), false, 'other scheme of an allowed host');
  tt.equal(check('http://chat.example', req('chat.example')), true, 'own origin still allowed');
  tt.equal(check('https://evil.example', req('chat.example')), false);
});

t.test('`*` lets every origin in', async (tt) => {
  const check = originCheck({ allowedOrigins: ['*'], publicUrl: '' });
  tt.equal(check('https://anything.example', req('chat.example')), true);
  tt.equal(check('null', req(undefined)), true);
  const mixed = originCheck({ allowedOrigins: ['https://a.example', ' * '], publicUrl: '' });
  tt.equal(mixed('https://b.example', req('chat.example')), true, '`*` among others, with spaces');
});

t.test('behind a proxy the public URL is the own origin, not the Host header', async (tt) => {
  const check = originCheck({ allowedOrigins: [], publicUrl: 'https://Chat.Example.com/some/path/' });
  tt.equal(check('https://chat.example.com', req('127.0.0.1:8080')), true);
  tt.equal(check('https://chat.example.com/', req('127.0.0.1:8080')), true);
  tt.equal(check('http://chat.example.com', req('127.0.0.1:8080')), false, 'scheme of the public URL');
  tt.equal(check('http://127.0.0.1:8080', req('127.0.0.1:8080')), false, 'the internal Host is not the origin');
  const withPort = originCheck({ allowedOrigins: ['https://admin.example'], publicUrl: 'https://chat.example.com:8443' });
  tt.equal(withPort('https://chat.example.com:8443', req('internal')), true);
  tt.equal(withPort('https://chat.example.com', req('internal')), false);
  tt.equal(withPort('https://admin.example', req('internal')), true, 'the allowed list still applies');
  const defaultPort = originCheck({ allowedOrigins: [], publicUrl: 'https://chat.example.com:443/' });
  tt.equal(defaultPort('https://chat.example.com', req('internal')), true, 'default port dropped as browsers do');
});

t.test('a public URL that is not a URL is refused when the check is built', async (tt) => {
  tt.throws(() => originCheck({ allowedOrigins: [], publicUrl: 'not a url' }));
});

/** Status of a WebSocket upgrade: 101 when taken (the socket is closed at once), else the refusal's status. */
function upgradeStatus(url: string, origin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', reject);
  });
}

/**
 * The check end to end, one regression test over every transport (their own
 * test files look closer at each): a foreign origin, and `null` (a sandboxed
 * or file: page), are refused everywhere; the configured one, the server's
 * own and none at all get in.
 */
t.test('every transport refuses a foreign origin and lets the allowed, own and missing ones in', async (tt) => {
  const allowed = 'https://chat.example.org';
  const s = await startServer({ allowedOrigins: [allowed], pollTimeout: 300, sessionTimeout: 60000 });
  tt.teardown(() => s.close());
  const ws = s.url.replace(/^http/, 'ws');
  const sid = ((await raw(s.url, 'open', { method: 'POST' })).body as { sid: string }).sid;
  let sessions = 0;
  // A fresh SockJS session each time: a second xhr on one session is a poll, held until the next heartbeat.
  const sockjsSession = () => `${s.url}/sockjs/000/origin${++sessions}`;
  const cases: Array<[string, (origin: string | undefined) => Promise<{ status: number; body?: unknown }>]> = [
    ['WebSocket upgrade /ws', async (o) => ({ status: await upgradeStatus(`${ws}/ws`, o) })],
    ['Comet open', async (o) => raw(s.url, 'open', { method: 'POST', headers: o === undefined ? {} : { origin: o } })],
    ['Comet poll', async (o) => raw(s.url, 'poll', { query: { sid, ack: '0' }, headers: o === undefined ? {} : { origin: o } })],
    ['Comet send', async (o) => raw(s.url, 'send', { method: 'POST', query: { sid }, type: 'application/json', body: '[{"cmd":"ping"}]', headers: o === undefined ? {} : { origin: o } })],
    ['SockJS info', async (o) => ({ status: (await fetch(`${s.url}/sockjs/info`, { headers: o === undefined ? {} : { origin: o } })).status })],
    ['SockJS xhr', async (o) => ({ status: (await fetch(`${sockjsSession()}/xhr`, { method: 'POST', headers: o === undefined ? {} : { origin: o } })).status })],
    ['SockJS websocket', async (o) => ({ status: await upgradeStatus(`${ws}/sockjs/websocket`, o) })],
  ];
  for (const [what, attempt] of cases) {
    for (const foreign of ['https://evil.example.com', 'null', `${s.url}.evil.example`, 'https://chat.example.org.evil.example']) {
      const r = await attempt(foreign);
      tt.equal(r.status, 403, `${what} from ${foreign}: 403`);
      if (what.startsWith('Comet')) tt.same(r.body, { error: 'forbidden' }, `${what} from ${foreign}: {"error":"forbidden"}`);
    }
    for (const ok of [allowed, s.url, undefined]) {
      const r = await attempt(ok);
      tt.ok([101, 200, 204].includes(r.status), `${what} from ${ok ?? 'no Origin'}: let in (HTTP ${r.status})`);
    }
  }
  // Comet poll at last: it was held and answered, and the session survived every refused request.
  tt.equal((await raw(s.url, 'poll', { query: { sid, ack: '0' } })).status, 200, 'the Comet session is still valid');
});
