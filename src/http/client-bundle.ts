/**
 * `/webim.js`: the browser client library as ONE file, for the page and for
 * any other page that embeds it. Its source is public/webim/*.js, one ES3
 * script per concern, each adding to `window.WebIM`; the server joins them
 * once, at startup, in the fixed order below (each part needs the ones
 * before it). Served with an ETag of its content and `Cache-Control:
 * no-cache`, so browsers revalidate it and see a new release at once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

export const CLIENT_DIR = fileURLToPath(new URL('../../../public/webim/', import.meta.url));

/** The parts of /webim.js, in the order they are joined. */
export const CLIENT_PARTS: readonly string[] = ['core.js', 'storage.js', 'comet.js', 'transports.js', 'client.js', 'client-session.js', 'upload.js'];

const JS = 'application/javascript; charset=utf-8';

export interface ClientBundle {
  body: string;
  /** A strong ETag, quoted, from a hash of the body. */
  etag: string;
}

/** Joins the parts found in `dir` (public/webim/ by default); throws when one is missing. */
export function buildClientBundle(dir: string = CLIENT_DIR): ClientBundle {
  const banner = `/* webim.js: public/webim/{${CLIENT_PARTS.join(',')}} joined by the server (src/http/client-bundle.ts) */\n`;
  const parts = CLIENT_PARTS.map((name) => {
    const text = readFileSync(join(dir, name), 'utf8');
    return text.endsWith('\n') ? text : `${text}\n`;
  });
  const body = banner + parts.join('\n');
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, etag };
}

/** If-None-Match (a list, `*`, or weak tags) names this ETag. */
function notModified(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

export interface ClientBundleOptions {
  /** Where the parts are; public/webim/ by default. */
  dir?: string;
}

export default async function clientBundle(app: FastifyInstance, opts: ClientBundleOptions): Promise<void> {
  const { body, etag } = buildClientBundle(opts.dir);
  app.get('/webim.js', async (req, reply) => {
    void reply.header('ETag', etag).header('Cache-Control', 'no-cache').header('X-Content-Type-Options', 'nosniff');
    if (notModified(req.headers['if-none-match'], etag)) return reply.code(304).send();
    return reply.type(JS).send(body);
  });
}
