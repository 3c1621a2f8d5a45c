import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, generateKeyPair, SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { TokenService } from '../src/auth/tokens.js';

const alice = { id: 'alice', name: 'Alice', avatar: 'cat' };
const SECRET = 'a configured secret for the tests';

function tempDir(tt: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'webim-tokens-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function service(secret = SECRET, ttlSeconds = 3600): TokenService {
  return new TokenService({ secret, dataDir: '/nonexistent/never-written', persist: false, ttlSeconds });
}

/** A token signed with the same key as `service()`, with claims of our choosing. */
function craft(claims: Record<string, unknown>, opts: { sub?: string; exp?: number; alg?: string; key?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'HS256' }).setIssuedAt(now - 3600);
  if (opts.sub !== undefined) jwt = jwt.setSubject(opts.sub);
  if (opts.exp !== undefined) jwt = jwt.setExpirationTime(opts.exp);
  return jwt.sign(new TextEncoder().encode(opts.key ?? SECRET));
}

const nowS = (): number => Math.floor(Date.now() / 1000);

t.test('sign then verify gives back the identity', async (tt) => {
  const s = service();
  const token = await s.sign(alice);
  tt.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWT');
  tt.same(await s.verify(token), alice);
  const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
  tt.equal(payload.sub, 'alice');
  tt.equal(payload.name, 'Alice');
  tt.equal(payload.avatar, 'cat');
  tt.ok(typeof payload.exp === 'number' && Math.abs(payload.exp - (nowS() + 3600)) <= 2, 'exp is now + ttl');
  const header = JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
  tt.equal(header.alg, 'HS256');
});

t.test('tampered, foreign and malformed tokens are refused', async (tt) => {
  const s = service();
  const token = await s.sign(alice);
  const [h, p, sig] = token.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify({ sub: 'mallory', name: 'Alice', avatar: 'cat', exp: nowS() + 3600 })).toString('base64url');
  tt.equal(await s.verify(`${h}.${forged}.${sig}`), undefined, 'payload swapped');
  const flipped = sig.slice(0, -2) + (sig.endsWith('AA') ? 'BB' : 'AA');
  tt.equal(await s.verify(`${h}.${p}.${flipped}`), undefined, 'signature altered');
  tt.equal(await service('another secret').verify(token), undefined, 'signed with another secret');
  tt.equal(await service('').verify(token), undefined, 'a random per-process secret');
  for (const junk of ['', 'abc', 'a.b.c', `${h}.${p}`, `${h}.${p}.`]) tt.equal(await s.verify(junk), undefined, JSON.stringify(junk));
  tt.equal(await s.verify(token + 'x'.repeat(4097)), undefined, 'oversized');
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
  tt.equal(await s.verify(none), undefined, 'alg none');
  tt.equal(await s.verify(await craft({ name: 'Alice', avatar: 'cat' }, { sub: 'alice', exp: nowS() + 60, alg: 'HS512' })), undefined, 'other algorithm');
});

t.test('expired tokens are refused, within the clock skew allowance they pass', async (tt) => {
  const s = service();
  const claims = { name: 'Alice', avatar: 'cat' };
  tt.equal(await s.verify(await craft(claims, { sub: 'alice', exp: nowS() - 3600 })), undefined, 'expired an hour ago');
  tt.equal(await s.verify(await craft(claims, { sub: 'alice', exp: nowS() - 120 })), undefined, 'expired two minutes ago');
  tt.same(await s.verify(await craft(claims, { sub: 'alice', exp: nowS() - 5 })), alice, 'a few seconds of skew are tolerated');
  tt.same(await s.verify(await craft(claims, { sub: 'alice', exp: nowS() + 60 })), alice, 'crafted valid token passes');
  tt.equal(await s.verify(await craft(claims, { sub: 'alice' })), undefined, 'no exp at all');
  tt.equal(await s.verify(await craft(claims, { exp: nowS() + 60 })), undefined, 'no sub');
  tt.equal(await s.verify(await craft({ name: 5, avatar: 'cat' }, { sub: 'alice', exp: nowS() + 60 })), undefined, 'name not a string');
  tt.same(await s.verify(await craft({ name: 'Alice' }, { sub: 'alice', exp: nowS() + 60 })), { id: 'alice', name: 'Alice' }, 'no avatar: optional');
});

t.test('ttl sets the expiry of signed tokens', async (tt) => {
  const s = service(SECRET, 60);
  const token = await s.sign(alice);
  const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { exp: number };
  tt.ok(Math.abs(payload.exp - (nowS() + 60)) <= 2);
  const short = new TokenService({ secret: SECRET, dataDir: '', persist: false, ttlSeconds: -120 });
  tt.equal(await s.verify(await short.sign(alice)), undefined, 'a token past its ttl (beyond the skew) is refused');
});

t.test('the secret is kept in the data directory: a second service verifies the first one\'s tokens', async (tt) => {
  const dir = join(tempDir(tt), 'nested', 'data');
  const first = new TokenService({ secret: '', dataDir: dir, persist: true, ttlSeconds: 3600 });
  const file = join(dir, 'secret.key');
  tt.ok(existsSync(file), 'secret.key written (directory created)');
  tt.match(readFileSync(file, 'utf8').trim(), /^[0-9a-f]{64}$/, '32 random bytes in hex');
  if (process.platform !== 'win32') tt.equal(statSync(file).mode & 0o777, 0o600, 'readable by the owner only');
  const token = await first.sign(alice);
  const second = new TokenService({ secret: '', dataDir: dir, persist: true, ttlSeconds: 3600 });
  tt.same(await second.verify(token), alice);
  tt.same(await first.verify(await second.sign(alice)), alice, 'and the other way round');
  const before = readFileSync(file, 'utf8');
  new TokenService({ secret: '', dataDir: dir, persist: true, ttlSeconds: 3600 });
  tt.equal(readFileSync(file, 'utf8'), before, 'the file is not rewritten');
  const otherDir = tempDir(tt);
  const stranger = new TokenService({ secret: '', dataDir: otherDir, persist: true, ttlSeconds: 3600 });
  tt.equal(await stranger.verify(token), undefined, 'another data directory has another secret');
});

t.test('persist:false and a configured secret write nothing', async (tt) => {
  const dir = tempDir(tt);
  const a = new TokenService({ secret: '', dataDir: dir, persist: false, ttlSeconds: 3600 });
  tt.same(readdirSync(dir), [], 'no secret file');
  const b = new TokenService({ secret: '', dataDir: dir, persist: false, ttlSeconds: 3600 });
  tt.equal(await b.verify(await a.sign(alice)), undefined, 'each process has its own random secret');
  const c = new TokenService({ secret: SECRET, dataDir: dir, persist: true, ttlSeconds: 3600 });
  tt.same(readdirSync(dir), [], 'a configured secret is not written either');
  tt.same(await service().verify(await c.sign(alice)), alice, 'same configured secret, same tokens');
});

/** A token as a host application would build it, with every registered claim under the test's control. */
function hostToken(payload: Record<string, unknown>, key = SECRET, alg = 'HS256'): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg }).sign(new TextEncoder().encode(key));
}

t.test('a host application\'s token: only sub and exp are required, name and avatar are optional', async (tt) => {
  const s = service();
  const exp = nowS() + 300;
  tt.same(await s.verify(await hostToken({ sub: 'u-1001', exp })), { id: 'u-1001' }, 'sub and exp alone');
  tt.same(await s.verify(await hostToken({ sub: 'u-1001', exp, name: '  Ada  ' })), { id: 'u-1001', name: 'Ada' }, 'name trimmed as a login name is');
  tt.same(await s.verify(await hostToken({ sub: 'u-1001', exp, avatar: 'https://cdn.example.com/a.png' })), { id: 'u-1001', avatar: 'https://cdn.example.com/a.png' });
  tt.same(await s.verify(await hostToken({ sub: 'Ünïcode-ид', exp, name: 'Ünï', avatar: 'owl', role: 'ignored' })), { id: 'Ünïcode-ид', name: 'Ünï', avatar: 'owl' }, 'unknown claims are ignored');
  tt.same(await s.verify(await hostToken({ sub: 'u-1001', exp, guest: 'yes' })), { id: 'u-1001' }, 'a guest claim other than true is no guest mark');
  tt.equal(await s.verify(await hostToken({ sub: 'u-1001' })), undefined, 'no exp: refused (a token must end)');
  tt.equal(await s.verify(await hostToken({ exp })), undefined, 'no sub');
  tt.equal(await s.verify(await hostToken({ sub: 'u-1001', exp: String(exp) })), undefined, 'exp not a number');
});

t.test("the tokens webim issues to guests say so; its other tokens do not", async (tt) => {
  const s = service();
  const guest = await s.sign(alice, { guest: true });
  tt.equal(decodeJwt(guest).guest, true, 'the claim is in the token');
  tt.same(await s.verify(guest), { ...alice, guest: true }, 'and comes back from verify');
  tt.same(await s.verify(await s.sign(alice)), alice, 'a token user\'s token carries no guest mark');
  tt.same(await s.verify(await s.sign(alice, { guest: false })), alice);
});

t.test('claims the protocol cannot carry are refused, not repaired', async (tt) => {
  const s = service();
  const exp = nowS() + 300;
  for (const sub of ['', 'a:b', 'a b', 'tab\there', 'nul\u0000', 'x'.repeat(513), '\ud800lone']) {
    tt.equal(await s.verify(await hostToken({ sub, exp })), undefined, `sub ${JSON.stringify(sub).slice(0, 20)}`);
  }
  tt.equal(await s.verify(await hostToken({ sub: 42, exp })), undefined, 'sub not a string');
  for (const name of ['', '   ', 'x'.repeat(33), 'bell\u0007', 7, null]) {
    tt.equal(await s.verify(await hostToken({ sub: 'u1', exp, name })), undefined, `name ${JSON.stringify(name)}`);
  }
  for (const avatar of ['javascript:alert(1)', 'unicorn', 'ftp://x.example/a.png', 'https://x.example/a\u0000.png', 3]) {
    tt.equal(await s.verify(await hostToken({ sub: 'u1', exp, avatar })), undefined, `avatar ${JSON.stringify(avatar)}`);
  }
});

t.test('nbf and iat in the future beyond the clock tolerance are refused; within it they pass', async (tt) => {
  const s = service();
  const exp = nowS() + 3600;
  tt.equal(await s.verify(await hostToken({ sub: 'u1', exp, nbf: nowS() + 120 })), undefined, 'nbf two minutes ahead');
  tt.same(await s.verify(await hostToken({ sub: 'u1', exp, nbf: nowS() + 10 })), { id: 'u1' }, 'nbf ten seconds ahead: clock skew');
  tt.same(await s.verify(await hostToken({ sub: 'u1', exp, nbf: nowS() - 10 })), { id: 'u1' }, 'nbf passed');
  tt.equal(await s.verify(await hostToken({ sub: 'u1', exp, iat: nowS() + 120 })), undefined, 'iat two minutes ahead');
  tt.same(await s.verify(await hostToken({ sub: 'u1', exp, iat: nowS() + 10 })), { id: 'u1' }, 'iat ten seconds ahead: clock skew');
  tt.equal(await s.verify(await hostToken({ sub: 'u1', exp, iat: 'yesterday' })), undefined, 'iat not a number');
  tt.equal(await s.verify(await hostToken({ sub: 'u1', exp: nowS() - 31 })), undefined, 'expired just beyond the 30 s tolerance');
});

t.test('only HS256 with the configured secret: none, RS256, HS384 and a wrong secret are refused', async (tt) => {
  const s = service();
  const payload = { sub: 'u1', exp: nowS() + 300 };
  tt.same(await s.verify(await hostToken(payload)), { id: 'u1' }, 'the control: HS256, right secret');
  tt.equal(await s.verify(await hostToken(payload, 'not the secret')), undefined, 'wrong secret');
  tt.equal(await s.verify(await hostToken(payload, SECRET, 'HS384')), undefined, 'HS384 with the right secret');
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  for (const header of [{ alg: 'none' }, { alg: 'None' }, { alg: 'none', typ: 'JWT' }]) {
    const unsigned = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${body}.`;
    tt.equal(await s.verify(unsigned), undefined, `unsigned, alg ${header.alg}`);
  }
  const { privateKey } = await generateKeyPair('RS256');
  const rs = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
  tt.equal(await s.verify(rs), undefined, 'RS256 signed by another key pair');
  // The classic confusion: an HS256 signature made with the secret, under a header that says RS256.
  const hs = await hostToken(payload);
  const [, p, sig] = hs.split('.') as [string, string, string];
  tt.equal(await s.verify(`${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${p}.${sig}`), undefined, 'header swapped to RS256');
  // Signed by hand: jose itself refuses to sign a critical extension it does not know.
  const critInput = `${Buffer.from(JSON.stringify({ alg: 'HS256', crit: ['x-webim'], 'x-webim': 1 })).toString('base64url')}.${body}`;
  const crit = `${critInput}.${createHmac('sha256', SECRET).update(critInput).digest('base64url')}`;
  const plainInput = `${Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url')}.${body}`;
  const plain = `${plainInput}.${createHmac('sha256', SECRET).update(plainInput).digest('base64url')}`;
  tt.same(await s.verify(plain), { id: 'u1' }, 'the control: signed by hand the same way, without crit');
  tt.equal(await s.verify(crit), undefined, 'a critical header extension webim does not know');
  for (const junk of ['..', 'e30.e30.', '%%%.%%%.%%%', 'eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln', ' '.repeat(100)]) {
    tt.equal(await s.verify(junk), undefined, `malformed ${JSON.stringify(junk).slice(0, 24)}`);
  }
});
