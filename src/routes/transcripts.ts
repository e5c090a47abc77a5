/** Transcripts: read (owner, grantee, admin, auditor) and store from a speech-to-text system (admin/service). */
import { createRoute, z } from '@hono/zod-openapi';
import { notImplemented } from '../errors';
import { authErrors, IdParams, json, security } from './schemas';
import { createRouter } from './router';

export const TranscriptSchema = z
  .object({
    recordingId: z.string(),
    language: z.string().min(2).max(35),
    text: z.string().max(2_000_000),
    segments: z.array(z.object({ start: z.number().min(0), end: z.number().min(0), speaker: z.string().max(100).nullable(), text: z.string().max(100_000) })).max(100_000),
  })
  .openapi('Transcript');

export const transcriptRoutes = createRouter();

transcriptRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/{id}/transcript',
    tags: ['transcripts'],
    summary: 'The transcript (404 when none)',
    security,
    request: { params: IdParams },
    responses: { 200: json(TranscriptSchema, 'Transcript'), ...authErrors },
  }),
  () => {
    throw notImplemented('Transcripts');
  },
);

transcriptRoutes.openapi(
  createRoute({
    method: 'put',
    path: '/recordings/{id}/transcript',
    tags: ['transcripts'],
    summary: 'Store a transcript (admin or service)',
    security,
    request: { params: IdParams, body: { content: { 'application/json': { schema: TranscriptSchema.omit({ recordingId: true }) } }, required: true } },
    responses: { 200: json(TranscriptSchema, 'Stored'), ...authErrors },
  }),
  () => {
    throw notImplemented('Transcripts');
  },
);
