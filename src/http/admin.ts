/**
 * The admin routes of the server API (docs/api.md, "Rooms and members" and
 * "Users"): rooms (list, create, delete), members, notices, the users
 * online on this node and kicks. The API key opens them, and so does the
 * admin token, which the admin page holds: none of them publishes as a
 * user. Registered under /api (src/http/api.ts) and, for scripts written
 * before the server API, under /admin/api as well.
 *
 * The chat-side work is in src/core/admin.ts; this file only declares the
 * routes and their schemas (src/http/api-schemas.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { Admin } from '../core/admin.js';
import { adminSchema, answers, MESSAGE, ROOM, USER_ID, USER_INFO } from './api-schemas.js';

export interface AdminRoutesOptions {
  admin: Admin;
}

const ROOM_INFO = {
  type: 'object',
  required: ['name', 'title', 'membersOnly', 'createdAt', 'online'],
  properties: {
    name: { type: 'string' },
    title: { type: 'string' },
    membersOnly: { type: 'boolean' },
    createdAt: { type: 'integer' },
    online: { type: 'integer', description: 'members online on this node' },
  },
} as const;

const NAME = { type: 'object', required: ['name'], properties: { name: ROOM } } as const;
const MEMBER = { type: 'object', required: ['name', 'user'], properties: { name: ROOM, user: USER_ID } } as const;
const OK_MEMBER = {
  type: 'object',
  properties: { ok: { type: 'boolean' }, room: { type: 'string' }, user: { type: 'string' }, online: { type: 'boolean' } },
} as const;

const schemas = {
  rooms: adminSchema('Every room', { response: answers(200, { type: 'object', properties: { rooms: { type: 'array', items: ROOM_INFO } } }) }),
  createRoom: adminSchema('Create a room', {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: ROOM,
        title: { type: 'string', minLength: 1, maxLength: 64, description: 'default: the name' },
        membersOnly: { type: 'boolean', default: false, description: 'only members (added here) may join, read and write' },
      },
    },
    response: answers(201, { type: 'object', properties: { room: ROOM_INFO } }, 409),
  }),
  deleteRoom: adminSchema('Delete a room and its memberships (its messages stay)', {
    params: NAME,
    response: answers(200, { type: 'object', properties: { ok: { type: 'boolean' }, room: { type: 'string' }, notified: { type: 'integer' } } }, 403, 404),
  }),
  addMember: adminSchema('Make a user a member of a room', {
    params: NAME,
    body: { type: 'object', additionalProperties: false, required: ['user'], properties: { user: USER_ID } },
    response: answers(200, OK_MEMBER, 404),
  }),
  removeMember: adminSchema('End a membership', { params: MEMBER, response: answers(200, OK_MEMBER, 404) }),
  notice: adminSchema('Post a notice from System into a room', {
    params: NAME,
    body: { type: 'object', additionalProperties: false, required: ['text'], properties: { text: { type: 'string' } } },
    response: answers(201, { type: 'object', properties: { message: MESSAGE } }, 404, 413, 503),
  }),
  users: adminSchema('The users online on this node, with their connections', {
    response: answers(200, {
      type: 'object',
      properties: {
        users: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              ...USER_INFO.properties,
              connections: { type: 'array', items: { type: 'object', properties: { transport: { type: 'string' }, ip: { type: 'string' } } } },
              rooms: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    }),
  }, 'users'),
  kick: adminSchema('End every connection of a user with `bye` `kicked`', {
    params: { type: 'object', required: ['id'], properties: { id: USER_ID } },
    response: answers(200, { type: 'object', properties: { ok: { type: 'boolean' }, user: { type: 'string' }, connections: { type: 'integer' } } }, 404),
  }, 'users'),
};

type Params = Record<string, string>;
interface NewRoomBody { name: string; title?: string; membersOnly?: boolean }
const admin = { config: { scope: 'admin' as const } };

export default async function adminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): Promise<void> {
  const core = opts.admin;
  app.get('/rooms', { ...admin, schema: schemas.rooms }, async () => ({ rooms: core.rooms() }));

  app.post('/rooms', { ...admin, schema: schemas.createRoom }, async (req, reply) => {
    const room = await core.createRoom(req.body as NewRoomBody);
    return reply.code(201).send({ room });
  });

  app.delete('/rooms/:name', { ...admin, schema: schemas.deleteRoom }, async (req) => ({ ok: true, ...(await core.deleteRoom((req.params as Params).name ?? '')) }));

  app.post('/rooms/:name/members', { ...admin, schema: schemas.addMember }, async (req) => {
    const { user } = req.body as { user: string };
    return { ok: true, ...(await core.addMember((req.params as Params).name ?? '', user)) };
  });

  app.delete('/rooms/:name/members/:user', { ...admin, schema: schemas.removeMember }, async (req) => {
    const p = req.params as Params;
    return { ok: true, ...(await core.removeMember(p.name ?? '', p.user ?? '')) };
  });

  app.post('/rooms/:name/notice', { ...admin, schema: schemas.notice }, async (req, reply) => {
    const { text } = req.body as { text: string };
    const message = await core.notice((req.params as Params).name ?? '', text);
    return reply.code(201).send({ message });
  });

  app.get('/users', { ...admin, schema: schemas.users }, async () => ({ users: core.users() }));

  app.post('/users/:id/kick', { ...admin, schema: schemas.kick }, async (req) => ({ ok: true, ...core.kick((req.params as Params).id ?? '') }));
}
