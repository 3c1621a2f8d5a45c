/**
 * `/polyfills/`: what old browsers need before the client can run. Files
 * that exist as packages (json3 here; sockjs-client in the SockJS
 * transport) are served from the installed package, never copied into the
 * repository; the project's own shims come from polyfills/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

export const POLYFILLS_DIR = fileURLToPath(new URL('../../../polyfills/', import.meta.url));

const JS = 'application/javascript; charset=utf-8';

function serveFile(app: FastifyInstance, route: string, path: string, tag: string): void {
  const body = readFileSync(path);
  const etag = `"${tag}"`;
  app.get(route, async (req, reply) => {
    void reply.header('ETag', etag).header('Cache-Control', 'public, max-age=86400').header('X-Content-Type-Options', 'nosniff');
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type(JS).send(body);
  });
}

export default async function polyfills(app: FastifyInstance): Promise<void> {
  const require = createRequire(import.meta.url);
  const { version } = require('json3/package.json') as { version: string };
  for (const file of ['json3.js', 'json3.min.js']) {
    serveFile(app, `/polyfills/${file}`, require.resolve(`json3/lib/${file}`), `json3-${version}-${file}`);
  }
  if (!existsSync(POLYFILLS_DIR)) return;
  for (const file of readdirSync(POLYFILLS_DIR)) {
    if (file.endsWith('.js')) serveFile(app, `/polyfills/${file}`, join(POLYFILLS_DIR, file), `own-${file}`);
  }
}
