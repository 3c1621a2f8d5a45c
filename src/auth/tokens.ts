/**
 * Login tokens (docs/protocol.md section 7): an HS256 JWT whose `sub` is the user
 * id and whose `name` and `avatar` are the profile. The server hands one out
 * at every login so that other tabs, devices and reconnects of the same
 * person can log in as that identity while it is online. A host application
 * that knows the secret issues its own (docs/identity.md, "Logging users in from your
 * application"): only `sub` and `exp` are required there, the profile claims
 * are optional.
 *
 * The secret is kept in the data directory so that tokens stay valid across
 * restarts, unless one is configured.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import { isValidAvatar } from '../avatars.js';
import { validName } from '../core/validate.js';
import type { Sender } from '../types.js';

const ALG = 'HS256';
/** Clocks of the machines that issue and check tokens may disagree a little. */
const CLOCK_TOLERANCE_S = 30;
/** A user id as docs/protocol.md section 3 has it (no `:`, no white space), and no control characters either: it ends up in logs and channel names. */
const USER_ID = /^[^\s:\p{Cc}]{1,512}$/u;

/** Whether a string can be a user id a host application vouches for (a token's `sub`, a login hook's `user.id`). */
export function isUserId(id: string): boolean {
  return USER_ID.test(id) && id.isWellFormed();
}

/** What a valid token proves: the user id, and the profile where the token carries one. */
export interface TokenClaims {
  id: string;
  name?: string;
  avatar?: string;
  /**
   * Set on the tokens webim issues to guests (claim `guest: true`): such a
   * token proves only that its holder logged in as a guest of that name, so
   * it cannot enter an id a host application's token has used.
   */
  guest?: true;
}

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

  /** A token for this identity; `guest` when a guest's name is all that proved it. */
  sign(user: Sender, opts: { guest?: boolean } = {}): Promise<string> {
    return new SignJWT({ name: user.name, avatar: user.avatar, ...(opts.guest === true ? { guest: true } : {}) })
      .setProtectedHeader({ alg: ALG })
      .setSubject(user.id)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.ttl)
      .sign(this.key);
  }

  /**
   * The identity a token proves, or undefined for a bad, forged, expired or
   * not yet valid one, and for one whose claims the protocol cannot carry
   * (a `sub` that is no user id, a `name` or `avatar` a login would refuse).
   */
  async verify(token: string): Promise<TokenClaims | undefined> {
    if (token.length > 4096) return undefined;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: [ALG],
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch {
      // Any verification failure means the same thing to the client: unauthorized.
      return undefined;
    }
    return claimsOf(payload);
  }
}

function claimsOf(payload: Record<string, unknown>): TokenClaims | undefined {
  const { sub, name, avatar, iat, guest } = payload;
  if (typeof sub !== 'string' || !USER_ID.test(sub) || !sub.isWellFormed()) return undefined;
  // jose checks `iat` only against a maximum age; a token issued in the future is a clock gone wrong or a forgery.
  if (typeof iat === 'number' && iat > Date.now() / 1000 + CLOCK_TOLERANCE_S) return undefined;
  const claims: TokenClaims = { id: sub };
  // Only `true` marks a guest: a host application's token that happens to carry another value stays its user's.
  if (guest === true) claims.guest = true;
  if (name !== undefined) {
    const valid = typeof name === 'string' && name.isWellFormed() ? validName(name) : undefined;
    if (valid === undefined) return undefined;
    claims.name = valid;
  }
  if (avatar !== undefined) {
    if (typeof avatar !== 'string' || !isValidAvatar(avatar)) return undefined;
    claims.avatar = avatar;
  }
  return claims;
}
