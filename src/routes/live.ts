/** Live recording: WebSocket upgrades routed to the call's Durable Object (plain and Socket.IO). */
import { createRoute } from '@hono/zod-openapi';
import { notImplemented } from '../errors';
import { errorResponses } from './schemas';
import { createRouter } from './router';

export const liveRoutes = createRouter();

liveRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/live',
    tags: ['live'],
    summary: 'Plain WebSocket live recording (token in Authorization or ?token=); see the contract for frames',
    responses: { 101: { description: 'Switching protocols' }, ...errorResponses({ 401: 'No or bad token', 426: 'Not a WebSocket upgrade' }) },
  }),
  () => {
    throw notImplemented('Live recording');
  },
);
