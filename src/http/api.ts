/**
 * The server API under /api (docs/api.md): one scope with its keys, its
 * validation and its errors, the admin routes (src/http/admin.ts), the
 * backend's routes (src/http/api-routes.ts) and the OpenAPI document,
 * which @fastify/swagger builds from the routes' schemas at
 * /api/openapi.json.
 *
 * Two keys: `--api-key` (the backend's: every route) and `--admin-token`
 * (the admin page's: the admin routes only), each route saying which it
 * takes (its `config.scope`). With neither set the API is off: 404, as if
 * there were none. Errors are `{ error, message, field? }` with a code of
 * src/errors.ts and its HTTP status, like uploads and Comet.
 */
import swagger from '@fastify/swagger';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Admin } from '../core/admin.js';
import { ConfigError } from '../config.js';
import type { ServerApi } from '../core/api.js';
import { type ErrorCode, ErrorCodes, ProtocolError, StoreUnavailableError } from '../errors.js';
import adminRoutes from './admin.js';
import { OPENAPI_INFO, type Scope } from './api-schemas.js';
import apiRoutes from './api-routes.js';
import { bearerMatches } from './bearer.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which key opens the route (src/http/api-schemas.ts). */
    scope?: Scope;
  }
}

export interface ApiKeys {
  /** `--api-key`: every route; empty: none. */
  apiKey: string;
  /** `--admin-token`: the admin routes; empty: none. */
  adminToken: string;
}

export interface ServerApiOptions extends ApiKeys {
  admin: Admin;
  api: ServerApi;
}

/** Refuses one key for both scopes before the server starts: it would put the backend's powers in the admin page. */
export function checkApiKeys(keys: ApiKeys): void {
  if (keys.apiKey !== '' && keys.apiKey === keys.adminToken) throw new ConfigError('--api-key and --admin-token must differ (docs/api.md, "Keys")');
}

function fail(reply: FastifyReply, code: ErrorCode, message?: string, field?: string): FastifyReply {
  const body = { error: code, message: message ?? ErrorCodes[code].message };
  return reply.code(ErrorCodes[code].status).send(field === undefined ? body : { ...body, field });
}

/** The field an Ajv error is about, as a dotted path (`to.room`, `limit`); empty for the whole body. */
function fieldOf(e: ErrorObject): string {
  const path = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const named = e.params.missingProperty ?? e.params.additionalProperty;
  if (typeof named === 'string') path.push(named);
  return path.join('.');
}

/**
 * One pair of validators for the process: the schemas are module constants, so Ajv compiles each
 * once (its cache is keyed by the schema) however many servers a process starts (the tests start hundreds).
 */
const strict = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false });
const query = new Ajv({ coerceTypes: true, useDefaults: true, removeAdditional: false, allErrors: false });

type Check = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** Compiled at the route's first request: a server whose API is never called (most in the tests) never pays for it. */
function lazily(ajv: Ajv, schema: object): Check {
  let compiled: ValidateFunction | undefined;
  const check: Check = (data) => {
    compiled ??= ajv.compile(schema);
    const ok = compiled(data);
    check.errors = compiled.errors;
    return ok;
  };
  return check;
}

/**
 * What both prefixes of the API share: strict validation (a body's types
 * are not coerced and unknown fields are refused, so a misspelt
 * `idempotencyKey` fails instead of being dropped; the query string's
 * numbers are read from text), the error answers and the key check.
 */
function apiScope(app: FastifyInstance, keys: ApiKeys): void {
  app.setValidatorCompiler(({ schema, httpPart }) => lazily(httpPart === 'body' ? strict : query, schema));
  // The answers are built here, not taken from anywhere: their schemas document them (OpenAPI) and need no compiled serializer.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number; validation?: ErrorObject[]; validationContext?: string }, req, reply) => {
    const first = err.validation?.[0];
    if (first) {
      const field = fieldOf(first);
      const where = [err.validationContext ?? 'body', field].filter((s) => s !== '').join('.');
      const what = first.keyword === 'required' ? 'is required' : first.keyword === 'additionalProperties' ? 'is not a field of this route' : first.message;
      return fail(reply, 'bad_request', `${where} ${what ?? 'is invalid'}`, field === '' ? err.validationContext : field);
    }
    if (err instanceof ProtocolError) return fail(reply, err.code, err.message);
    if (err instanceof StoreUnavailableError) return fail(reply, 'server_busy');
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return fail(reply, 'too_large');
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return fail(reply, 'bad_json');
    if (err.statusCode !== undefined && err.statusCode < 500) return fail(reply, 'bad_request', err.message);
    req.log.error({ err }, 'server API request failed');
    return fail(reply, 'internal');
  });

  app.addHook('onRequest', async (req, reply) => {
    void reply.header('Cache-Control', 'no-store');
    const needs = req.routeOptions.config.scope ?? 'admin';
    if (needs === 'open') return undefined;
    // Off without a key: the same 404 as a route that does not exist, before anything else is looked at.
    if (keys.apiKey === '' && keys.adminToken === '') return fail(reply, 'not_found', 'the server API is off (no --api-key or --admin-token)');
    const header = req.headers.authorization;
    // Both compared, whichever matches, so that the time taken says nothing about which key was close.
    const isApi = bearerMatches(header, keys.apiKey);
    const isAdmin = bearerMatches(header, keys.adminToken);
    if (!isApi && !isAdmin) {
      void reply.header('WWW-Authenticate', 'Bearer realm="webim"');
      return fail(reply, 'unauthorized', 'send Authorization: Bearer <API key>');
    }
    if (needs === 'api' && !isApi) return fail(reply, 'forbidden', 'the admin token opens the admin routes only: this one needs the API key');
    return undefined;
  });
}

/** A JSON 404 for any other path, behind the key check. A route, not a 404 handler: the static files' `/*` would answer first. */
function unknownRoutes(app: FastifyInstance): void {
  app.all('/*', { schema: { hide: true } }, async (_req, reply) => fail(reply, 'not_found', 'no such route of the server API'));
}

/** Registered with the prefix `/api`, in its own scope: its hooks, validation, 404 and errors are its own. */
export default async function serverApi(app: FastifyInstance, opts: ServerApiOptions): Promise<void> {
  apiScope(app, opts);
  // In this scope only: the document holds the API's routes and nothing else of the server.
  await app.register(swagger, { openapi: OPENAPI_INFO });
  await app.register(adminRoutes, { admin: opts.admin });
  await app.register(apiRoutes, { api: opts.api });
  app.get('/openapi.json', { config: { scope: 'open' }, schema: { summary: 'This document (OpenAPI 3), with no key', tags: ['about'], security: [] } }, async () => app.swagger());
  unknownRoutes(app);
}

/**
 * The admin routes under their first prefix, /admin/api, for scripts
 * written before the server API: the same routes, keys and answers as
 * under /api (docs/api.md, "Keys"). Not in the OpenAPI document.
 */
export async function legacyAdminApi(app: FastifyInstance, opts: ServerApiOptions): Promise<void> {
  apiScope(app, opts);
  await app.register(adminRoutes, { admin: opts.admin });
  unknownRoutes(app);
}
