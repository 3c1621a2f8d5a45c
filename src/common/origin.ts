/**
 * Browser origin checks (docs/protocol.md section 7), shared by every transport.
 * By default only the server's own origin may connect: the scheme and Host
 * of the request, or the configured public URL behind a proxy; the
 * allowed list adds others, and `*` in it lets every origin in.
 */

function normalize(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}

/** What the check reads of a request: a FastifyRequest, or a raw request adapted by a transport that runs outside Fastify (SockJS). */
export interface OriginRequest {
  readonly headers: { readonly host?: string | undefined };
  readonly protocol: string;
}

export type OriginCheck = (origin: string, req: OriginRequest) => boolean;

export function originCheck(config: { readonly allowedOrigins: readonly string[]; readonly publicUrl: string }): OriginCheck {
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

/**
 * The origin a browser says a request comes from: its Origin header, else
 * the origin of its Referer. Browsers send no Origin with a script tag's
 * GET (JSONP), and IE6-8 with nothing at all; their Referer still names the
 * page, so that a page of an origin not allowed is refused on JSONP too.
 * Undefined when neither says (not a browser, or one told to send no
 * Referer): such a request is let in, as docs/protocol.md section 7 says.
 */
export function claimedOrigin(headers: { readonly origin?: string | undefined; readonly referer?: string | undefined }): string | undefined {
  if (headers.origin !== undefined) return headers.origin;
  if (headers.referer === undefined) return undefined;
  try {
    const origin = new URL(headers.referer).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}
