/**
 * The bearer check of the server API (src/http/api.ts) and of /metrics:
 * whether an `Authorization` header carries a configured key.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Whether an `Authorization` header carries `Bearer <token>`. Both sides are
 * hashed to 32 bytes before timingSafeEqual, so the time taken says nothing
 * about the token, its length included. An empty token matches nothing.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1] ?? '';
  const equal = timingSafeEqual(digest(given), digest(token));
  return equal && token !== '';
}
