/**
 * The JSON Schemas of the server API's routes (docs/api.md): Fastify
 * validates every request against them (src/http/api.ts: unknown fields
 * refused, no type coercion in bodies), serializes answers through them,
 * and @fastify/swagger builds /api/openapi.json from them. The shapes are
 * docs/protocol.md's: a message here is the `message` frame without `cmd`.
 */
import type { FastifySchema } from 'fastify';
import { ErrorCodes } from '../errors.js';

/** Who may call a route: the backend's API key only, or the admin token too (docs/api.md, "Keys"). */
export type Scope = 'api' | 'admin' | 'open';

export const ROOM = { type: 'string', pattern: '^[a-z0-9_-]{1,32}$', description: 'a room name: 1-32 of a-z, 0-9, _ and -' } as const;
export const USER_ID = {
  type: 'string',
  minLength: 1,
  maxLength: 512,
  pattern: '^[^\\s:\\u0000]+$',
  description: 'a user id (a token\'s `sub`, or a guest\'s id): no white space, no `:`',
} as const;

const TARGET = {
  type: 'object',
  description: 'one room (`{ "room": "lobby" }`) or one user (`{ "user": "U1001" }`)',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: { room: ROOM, user: USER_ID },
} as const;

const SENDER = {
  type: 'object',
  required: ['id', 'name', 'avatar'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, avatar: { type: 'string' } },
} as const;

const USER_INFO = {
  type: 'object',
  required: ['id', 'name', 'avatar', 'status'],
  properties: { ...SENDER.properties, status: { type: 'string', enum: ['online', 'away', 'busy'] } },
} as const;

export const MESSAGE = {
  type: 'object',
  description: 'a stored message, as the `message` frame of docs/protocol.md carries it',
  required: ['id', 'channel', 'offset', 'from', 'to', 'type', 'body', 'ts', 'cid'],
  properties: {
    id: { type: 'string' },
    channel: { type: 'string' },
    offset: { type: 'integer', minimum: 1 },
    from: SENDER,
    to: { type: 'object', properties: TARGET.properties },
    type: { type: 'string', enum: ['text', 'emoji', 'image'] },
    body: { type: 'string' },
    ts: { type: 'integer', description: 'ms since 1970, the server clock' },
    cid: { type: 'string' },
  },
} as const;

const PUBLISHED = {
  type: 'object',
  required: ['message', 'duplicate'],
  properties: {
    message: MESSAGE,
    duplicate: { type: 'boolean', description: 'an earlier call with this idempotency key stored it: not delivered again' },
  },
} as const;

const ERROR = {
  type: 'object',
  required: ['error'],
  properties: {
    error: { type: 'string', enum: Object.keys(ErrorCodes) },
    message: { type: 'string', description: 'for people; never match on it' },
    field: { type: 'string', description: 'the field that broke its schema, as `to.room`' },
  },
} as const;

const WHEN: Record<number, string> = {
  400: 'bad_json, or bad_request naming the `field`',
  401: 'unauthorized: no key, or a wrong one',
  403: 'forbidden',
  404: 'not_found: no such room, user or route; or the API is off',
  409: 'conflict',
  413: 'too_large: a text over --max-text-length, or a body over --max-message-size',
  503: 'server_busy: the store cannot write now; the same call again is safe with its idempotency key',
};

function answers(ok: number, body: object, ...codes: number[]): FastifySchema['response'] {
  const out: Record<string, object> = { [ok]: { description: ok === 201 ? 'created' : 'done', ...body } };
  for (const code of [400, 401, ...codes]) out[code] = { ...ERROR, description: WHEN[code] };
  return out;
}

const PUBLICATION = {
  from: { ...USER_ID, description: 'publish as this user (who must have logged in once); left out: as System' },
  type: { type: 'string', enum: ['text', 'emoji', 'image'], default: 'text' },
  body: { type: 'string', description: 'as a client\'s `send`: text of at most --max-text-length characters, an emoji code, or an uploaded image\'s URL' },
  idempotencyKey: { type: 'string', minLength: 1, maxLength: 64, description: 'the same call again with this key stores the message once per channel' },
} as const;

const API: Array<Record<string, string[]>> = [{ apiKey: [] }];
const EITHER: Array<Record<string, string[]>> = [{ apiKey: [] }, { adminToken: [] }];

export const publishSchema: FastifySchema = {
  summary: 'Publish one message to a room or a user',
  tags: ['messages'],
  security: API,
  body: { type: 'object', additionalProperties: false, required: ['to', 'body'], properties: { to: TARGET, ...PUBLICATION } },
  response: answers(200, PUBLISHED, 403, 404, 409, 413, 503),
};

export const broadcastSchema: FastifySchema = {
  summary: 'Publish one message to several rooms and users',
  tags: ['messages'],
  security: API,
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['to', 'body'],
    properties: { to: { type: 'array', items: TARGET, minItems: 1, maxItems: 100, uniqueItems: true }, ...PUBLICATION },
  },
  response: answers(200, { type: 'object', required: ['results'], properties: { results: { type: 'array', items: PUBLISHED } } }, 403, 404, 409, 413, 503),
};

export const historySchema: FastifySchema = {
  summary: 'A page of a channel\'s history, newest last',
  tags: ['messages'],
  security: API,
  querystring: {
    type: 'object',
    additionalProperties: false,
    required: ['channel'],
    properties: {
      channel: { type: 'string', minLength: 1, maxLength: 1100, description: '`room:<name>` or `dm:<a>:<b>`' },
      before: { type: 'integer', minimum: 1, description: 'messages before this offset (exclusive); left out: the newest' },
      limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
    },
  },
  response: answers(200, {
    type: 'object',
    required: ['channel', 'messages', 'more'],
    properties: { channel: { type: 'string' }, messages: { type: 'array', items: MESSAGE }, more: { type: 'boolean' } },
  }, 404),
};

const ROOM_QUERY = { type: 'object', additionalProperties: false, properties: { room: ROOM } } as const;

export const presenceSchema: FastifySchema = {
  summary: 'Users online on every node, or the online members of a room',
  tags: ['presence'],
  security: API,
  querystring: ROOM_QUERY,
  response: answers(200, {
    type: 'object',
    required: ['users'],
    properties: { users: { type: 'array', items: USER_INFO }, room: { type: 'string' } },
  }, 404),
};

export const countsSchema: FastifySchema = {
  summary: 'How many users are online on every node, and in each room',
  tags: ['presence'],
  security: API,
  response: answers(200, {
    type: 'object',
    required: ['users', 'rooms'],
    properties: {
      users: { type: 'integer' },
      rooms: { type: 'array', items: { type: 'object', required: ['name', 'users'], properties: { name: { type: 'string' }, users: { type: 'integer' } } } },
    },
  }),
};

const USER_PARAMS = { type: 'object', required: ['id'], properties: { id: USER_ID } } as const;

export const disconnectSchema: FastifySchema = {
  summary: 'End every session of a user, on every node',
  tags: ['users'],
  security: API,
  params: USER_PARAMS,
  body: {
    type: 'object',
    additionalProperties: false,
    properties: {
      reason: { type: 'string', minLength: 1, maxLength: 200, description: 'the `bye` frame\'s reason, for the user' },
      reconnect: { type: 'boolean', default: false, description: 'true: `bye` `force_reconnect`, the client comes back; false: `disconnected`' },
    },
  },
  response: answers(200, {
    type: 'object',
    required: ['ok', 'user', 'code', 'reconnect'],
    properties: { ok: { type: 'boolean' }, user: { type: 'string' }, code: { type: 'string' }, reconnect: { type: 'boolean' } },
  }, 403, 404),
};

/** The schema of an admin route: the API key or the admin token opens it. */
export function adminSchema(summary: string, parts: Omit<FastifySchema, 'summary' | 'tags' | 'security'>, tag = 'rooms'): FastifySchema {
  return { summary, tags: [tag], security: EITHER, ...parts };
}

export { answers, SENDER, USER_INFO };

/** The OpenAPI document's own parts: what @fastify/swagger cannot read from the routes. */
export const OPENAPI_INFO = {
  openapi: '3.0.3',
  info: {
    title: 'webim server API',
    version: '1',
    description: 'What a site\'s backend may ask of its chat server: docs/api.md. Send `Authorization: Bearer <key>`.',
  },
  components: {
    securitySchemes: {
      apiKey: { type: 'http' as const, scheme: 'bearer', description: '--api-key: every route; for the site\'s backend only' },
      adminToken: { type: 'http' as const, scheme: 'bearer', description: '--admin-token: the admin routes (rooms, members, notices, users online here, kicks)' },
    },
  },
  tags: [
    { name: 'messages', description: 'publish, broadcast, history' },
    { name: 'presence', description: 'who is online, on every node' },
    { name: 'users', description: 'the users online and their sessions' },
    { name: 'rooms', description: 'rooms, members and notices' },
    { name: 'about', description: 'the API itself' },
  ],
};
