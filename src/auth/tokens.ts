/**
 * Login tokens (PROTOCOL.md section 7): an HS256 JWT whose `sub` is the user
 * id and whose `name` and `avatar` are the profile. The server hands one out
 * at every login so that other tabs, devices and reconnects of the same
 * person can log in as that identity while it is online.
 *
 * The secret is kept in the data directory so that tokens stay valid across
 * restarts, unless one is configured.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import type { Sender } from '../types.js';

const ALG = 'HS256';
/** Clocks of the machines that issue and check tokens may disagree a little. */
const CLOCK_TOLERANCE_S = 30;

export interface TokenOptions {
  secret: string;
  dataDir: string;
  /** false: no secret file is written (memory store): tokens die with the process. */
  persist: boolean;
  ttlSeconds: number;
}

function loadSecret(opts: TokenOptions): Uint8Array {
  if (opts.secret !== '') return new TextEncoder().encode(opts.secret);
  if (!opts.persist) return randomBytes(32);
  const file = join(opts.dataDir, 'secret.key');
  try {
    return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(opts.dataDir, { recursive: true });
  const secret = randomBytes(32);
  // 'wx': if another process created it meanwhile, fail rather than overwrite its tokens.
  writeFileSync(file, secret.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  return secret;
}

export class TokenService {
  private readonly key: Uint8Array;
  private readonly ttl: number;

  constructor(opts: TokenOptions) {
    this.key = loadSecret(opts);
    this.ttl = opts.ttlSeconds;
  }

  sign(user: Sender): Promise<string> {
    return new SignJWT({ name: user.name, avatar: user.avatar })
      .setProtectedHeader({ alg: ALG })
      .setSubject(user.id)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.ttl)
      .sign(this.key);
  }

  /** The identity a token proves, or undefined for a bad, forged or expired one. */
  async verify(token: string): Promise<Sender | undefined> {
    if (token.length > 4096) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [ALG],
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'exp'],
      });
      const { sub, name, avatar } = payload;
      if (typeof sub !== 'string' || typeof name !== 'string' || typeof avatar !== 'string') return undefined;
      return { id: sub, name, avatar };
    } catch {
      // Any verification failure means the same thing to the client: unauthorized.
      return undefined;
    }
  }
}
