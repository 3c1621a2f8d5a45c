import type { FastifyRequest } from 'fastify';
import t from 'tap';
import { originCheck } from '../src/origin.js';

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
