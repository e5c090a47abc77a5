/** Redaction of a time span to silence in the original and every rendition (admin/service). */
import { createRoute, z } from '@hono/zod-openapi';
import { notImplemented } from '../errors';
import { authErrors, IdParams, json, RecordingSchema, security } from './schemas';
import { createRouter } from './router';

export const redactionRoutes = createRouter();

redactionRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/recordings/{id}/redactions',
    tags: ['recordings'],
    summary: 'Replace a span with silence (202; the Recording lists redactions)',
    security,
    request: {
      params: IdParams,
      body: {
        content: { 'application/json': { schema: z.object({ startMs: z.number().int().min(0), endMs: z.number().int().min(1), reason: z.string().min(1).max(500) }) } },
        required: true,
      },
    },
    responses: { 202: json(RecordingSchema, 'Redaction accepted'), ...authErrors },
  }),
  () => {
    throw notImplemented('Redactions');
  },
);
