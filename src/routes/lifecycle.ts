/** Archive/restore and legal hold. */
import { createRoute, z } from '@hono/zod-openapi';
import { notImplemented } from '../errors';
import { authErrors, errorResponses, IdParams, json, RecordingSchema, security } from './schemas';
import { createRouter } from './router';

export const lifecycleRoutes = createRouter();

const simple = (method: 'post' | 'delete', path: string, summary: string, extra: object = {}) =>
  createRoute({
    method,
    path,
    tags: ['lifecycle'],
    summary,
    security,
    request: { params: IdParams, ...extra },
    responses: { 200: json(RecordingSchema, 'The recording after the change'), 202: json(RecordingSchema, 'Restore started'), ...authErrors, ...errorResponses({ 409: 'Conflict' }) },
  });

lifecycleRoutes.openapi(simple('post', '/lifecycle/{id}/archive', 'Move to the archive tier'), () => {
  throw notImplemented('Archive');
});
lifecycleRoutes.openapi(simple('post', '/lifecycle/{id}/restore', 'Bring back to hot (202 when the provider restores asynchronously)'), () => {
  throw notImplemented('Restore');
});
lifecycleRoutes.openapi(
  simple('post', '/lifecycle/{id}/legal-hold', 'Place a legal hold (admin)', {
    body: { content: { 'application/json': { schema: z.object({ reason: z.string().max(1000).optional() }) } }, required: false },
  }),
  () => {
    throw notImplemented('Legal hold');
  },
);
lifecycleRoutes.openapi(simple('delete', '/lifecycle/{id}/legal-hold', 'Release a legal hold (admin)'), () => {
  throw notImplemented('Legal hold');
});
