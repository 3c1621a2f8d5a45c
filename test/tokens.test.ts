import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
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
  tt.equal(await s.verify(await craft({ name: 'Alice' }, { sub: 'alice', exp: nowS() + 60 })), undefined, 'no avatar');
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
