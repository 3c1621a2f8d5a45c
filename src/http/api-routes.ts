/**
 * The routes of the server API that only the backend's API key opens
 * (docs/api.md): publish, broadcast, history, presence and disconnect. The
 * chat-side work is in src/core/api.ts; the schemas in api-schemas.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { Publication, ServerApi } from '../core/api.js';
import type { MessageType, Target } from '../types.js';
import { broadcastSchema, countsSchema, disconnectSchema, historySchema, presenceSchema, publishSchema } from './api-schemas.js';

export interface ApiRoutesOptions {
  api: ServerApi;
}

interface PublishBody {
  from?: string;
  type: MessageType;
  body: string;
  idempotencyKey?: string;
}

function publication(b: PublishBody): Publication {
  return { from: b.from, type: b.type, body: b.body, idempotencyKey: b.idempotencyKey };
}

const api = { config: { scope: 'api' as const } };

export default async function apiRoutes(app: FastifyInstance, opts: ApiRoutesOptions): Promise<void> {
  const core = opts.api;

  app.post('/publish', { ...api, schema: publishSchema }, async (req) => {
    const b = req.body as PublishBody & { to: Target };
    return core.publish(b.to, publication(b));
  });

  app.post('/broadcast', { ...api, schema: broadcastSchema }, async (req) => {
    const b = req.body as PublishBody & { to: Target[] };
    return { results: await core.broadcast(b.to, publication(b)) };
  });

  app.get('/history', { ...api, schema: historySchema }, async (req) => {
    const q = req.query as { channel: string; before?: number; limit: number };
    const page = await core.history(q.channel, q.before, q.limit);
    return { channel: q.channel, messages: page.messages, more: page.more };
  });

  app.get('/presence', { ...api, schema: presenceSchema }, async (req) => {
    const { room } = req.query as { room?: string };
    const users = await core.online(room);
    return room === undefined ? { users } : { users, room };
  });

  app.get('/presence/counts', { ...api, schema: countsSchema }, async () => core.counts());

  // A body is optional here (`curl -X POST` alone disconnects for good): none is read as `{}`, then validated.
  const noBodyIsEmpty = async (req: { body: unknown }) => {
    req.body ??= {};
  };
  app.post('/users/:id/disconnect', { ...api, schema: disconnectSchema, preValidation: noBodyIsEmpty }, async (req) => {
    const { id } = req.params as { id: string };
    const b = req.body as { reason?: string; reconnect?: boolean };
    return { ok: true, ...core.disconnect(id, b.reconnect === true, b.reason) };
  });
}
