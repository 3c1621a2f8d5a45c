/**
 * The admin HTTP API under `/admin/api`: JSON in and out, behind the admin
 * token (`--admin-token`, sent as `Authorization: Bearer <token>`). Without
 * a configured token every route answers 404, as if there were no API.
 *
 * Errors are `{ error, message }` with a code of src/errors.ts and that
 * code's HTTP status, like uploads and Comet. The chat-side work is in
 * src/core/admin.ts; this file only authenticates, reads bodies and maps
 * errors.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Admin } from '../core/admin.js';
import { type ErrorCode, ErrorCodes, ProtocolError, StoreUnavailableError } from '../errors.js';

export interface AdminApiOptions {
  admin: Admin;
  /** The admin token; empty: the API is off. */
  token: string;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Whether an `Authorization` header carries `Bearer <token>`. Both sides are
 * hashed to 32 bytes before timingSafeEqual, so the time taken says nothing
 * about the token, its length included.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1] ?? '';
  const equal = timingSafeEqual(digest(given), digest(token));
  return equal && token !== '';
}

function fail(reply: FastifyReply, code: ErrorCode, message?: string): FastifyReply {
  return reply.code(ErrorCodes[code].status).send({ error: code, message: message ?? ErrorCodes[code].message });
}

function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new ProtocolError('bad_request', 'the body must be a JSON object');
  return b as Record<string, unknown>;
}

function stringField(b: Record<string, unknown>, field: string, optional: true): string | undefined;
function stringField(b: Record<string, unknown>, field: string, optional?: false): string;
function stringField(b: Record<string, unknown>, field: string, optional = false): string | undefined {
  const v = b[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') throw new ProtocolError('bad_request', `"${field}" must be a string`);
  return v;
}

function boolField(b: Record<string, unknown>, field: string): boolean | undefined {
  const v = b[field];
  if (v === undefined || typeof v === 'boolean') return v;
  throw new ProtocolError('bad_request', `"${field}" must be true or false`);
}

type Params = Record<string, string>;

/** Registered with the prefix `/admin/api`, in its own scope: its hooks, 404 and errors are its own. */
export default async function adminApi(app: FastifyInstance, opts: AdminApiOptions): Promise<void> {
  const { admin } = opts;


  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
    if (err instanceof ProtocolError) return fail(reply, err.code, err.message);
    if (err instanceof StoreUnavailableError) return fail(reply, 'server_busy');
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return fail(reply, 'too_large');
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return fail(reply, 'bad_json');
    if (err.statusCode !== undefined && err.statusCode < 500) return fail(reply, 'bad_request', err.message);
    req.log.error({ err }, 'admin request failed');
    return fail(reply, 'internal');
  });

  app.addHook('onRequest', async (req, reply) => {
    void reply.header('Cache-Control', 'no-store');
    // Off without a token: the same 404 as a route that does not exist, before anything else is looked at.
    if (opts.token === '') return fail(reply, 'not_found', 'the admin API is off (no --admin-token)');
    if (!bearerMatches(req.headers.authorization, opts.token)) {
      void reply.header('WWW-Authenticate', 'Bearer realm="webim-admin"');
      return fail(reply, 'unauthorized', 'send Authorization: Bearer <admin token>');
    }
    return undefined;
  });

  app.get('/rooms', async () => ({ rooms: admin.rooms() }));

  app.post('/rooms', async (req, reply) => {
    const b = body(req);
    const room = await admin.createRoom({
      name: stringField(b, 'name'),
      title: stringField(b, 'title', true),
      membersOnly: boolField(b, 'membersOnly'),
    });
    return reply.code(201).send({ room });
  });

  app.delete('/rooms/:name', async (req) => ({ ok: true, ...(await admin.deleteRoom((req.params as Params).name ?? '')) }));

  app.post('/rooms/:name/members', async (req) => {
    const user = stringField(body(req), 'user');
    return { ok: true, ...(await admin.addMember((req.params as Params).name ?? '', user)) };
  });

  app.delete('/rooms/:name/members/:user', async (req) => {
    const p = req.params as Params;
    return { ok: true, ...(await admin.removeMember(p.name ?? '', p.user ?? '')) };
  });

  app.post('/rooms/:name/notice', async (req, reply) => {
    const text = stringField(body(req), 'text');
    const message = await admin.notice((req.params as Params).name ?? '', text);
    return reply.code(201).send({ message });
  });

  app.get('/users', async () => ({ users: admin.users() }));

  // A route, not a 404 handler: the static files' `/*` would otherwise answer first, in its own format.
  app.all('/*', async (_req, reply) => fail(reply, 'not_found', 'no such admin route'));

  app.post('/users/:id/kick', async (req) => ({ ok: true, ...admin.kick((req.params as Params).id ?? '') }));
}
