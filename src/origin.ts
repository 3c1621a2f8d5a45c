/**
 * Browser origin checks (PROTOCOL.md section 7), shared by every transport.
 * By default only the server's own origin may connect: the scheme and Host
 * of the request, or the configured public URL behind a proxy; the
 * allowed list adds others, and `*` in it lets every origin in.
 */
import type { Config } from './config.js';

function normalize(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}

/** What the check reads of a request: a FastifyRequest, or a raw request adapted by a transport that runs outside Fastify (SockJS). */
export interface OriginRequest {
  readonly headers: { readonly host?: string | undefined };
  readonly protocol: string;
}

export type OriginCheck = (origin: string, req: OriginRequest) => boolean;

export function originCheck(config: Pick<Config, 'allowedOrigins' | 'publicUrl'>): OriginCheck {
  const allowed = new Set(config.allowedOrigins.map(normalize));
  const anyOrigin = allowed.has('*');
  let publicOrigin: string | undefined;
  if (config.publicUrl !== '') publicOrigin = normalize(new URL(config.publicUrl).origin);
  return (origin, req) => {
    if (anyOrigin) return true;
    const o = normalize(origin);
    if (allowed.has(o)) return true;
    // The server's own pages may always connect, whatever else is allowed.
    if (publicOrigin !== undefined) return o === publicOrigin;
    const host = req.headers.host;
    return host !== undefined && o === normalize(`${req.protocol}://${host}`);
  };
}
