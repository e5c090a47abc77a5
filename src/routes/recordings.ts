/**
 * Recordings: upload, list, metadata, delete, download, Range streaming and signed playback URLs.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { notImplemented } from '../errors';
import { authErrors, errorResponses, IdParams, json, RecordingSchema, security, STATUSES } from './schemas';
import { createRouter } from './router';

export const recordingRoutes = createRouter();

const ListQuery = z.object({
  callId: z.string().max(200).optional(),
  phone: z.string().regex(/^\+[1-9]\d{1,14}$/, 'must be an E.164 phone number').optional(),
  status: z.enum(STATUSES).optional(),
  from: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' }).optional(),
  to: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' }).optional(),
  userId: z.string().max(256).optional(),
  limit: z.coerce.number().int().min(1, 'must be between 1 and 200').max(200, 'must be between 1 and 200').default(50),
  cursor: z.string().max(512).optional(),
});

const Quality = z.enum(['original', 'high', 'low']).default('original');

recordingRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/recordings',
    tags: ['recordings'],
    summary: 'Upload a recording (multipart/form-data with file `audio`, or a raw audio/* body with fields in the query)',
    security,
    responses: {
      201: json(RecordingSchema, 'Stored and encrypted; processing has been queued'),
      ...authErrors,
      ...errorResponses({ 413: 'Over MAX_FILE_SIZE', 415: 'Not audio of a supported format' }),
    },
  }),
  () => {
    throw notImplemented('Upload');
  },
);

recordingRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings',
    tags: ['recordings'],
    summary: 'List recordings, newest first, with filters and cursor paging',
    security,
    request: { query: ListQuery },
    responses: { 200: json(z.object({ items: z.array(RecordingSchema), nextCursor: z.string().nullable() }), 'A page of recordings'), ...authErrors },
  }),
  () => {
    throw notImplemented('Listing recordings');
  },
);

recordingRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/{id}',
    tags: ['recordings'],
    summary: 'Recording metadata',
    security,
    request: { params: IdParams },
    responses: { 200: json(RecordingSchema, 'The recording'), ...authErrors },
  }),
  () => {
    throw notImplemented('Recording metadata');
  },
);

recordingRoutes.openapi(
  createRoute({
    method: 'delete',
    path: '/recordings/{id}',
    tags: ['recordings'],
    summary: 'Delete a recording, its renditions and transcript (409 while on legal hold)',
    security,
    request: { params: IdParams },
    responses: { 204: { description: 'Deleted' }, ...authErrors, ...errorResponses({ 409: 'On legal hold' }) },
  }),
  () => {
    throw notImplemented('Deleting recordings');
  },
);

recordingRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/{id}/download',
    tags: ['recordings'],
    summary: 'The original bytes, byte-exact, as an attachment',
    security,
    request: { params: IdParams },
    responses: { 200: { description: 'Audio bytes' }, ...authErrors, ...errorResponses({ 409: 'Archived' }) },
  }),
  () => {
    throw notImplemented('Download');
  },
);

recordingRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/{id}/stream',
    tags: ['recordings'],
    summary: 'Stream audio with HTTP Range support (a-b, a-, -n)',
    security,
    request: { params: IdParams, query: z.object({ quality: Quality }) },
    responses: {
      200: { description: 'Whole audio' },
      206: { description: 'The requested range' },
      ...authErrors,
      ...errorResponses({ 409: 'Archived', 416: 'Range not satisfiable' }),
    },
  }),
  () => {
    throw notImplemented('Streaming');
  },
);

recordingRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/{id}/playback-url',
    tags: ['recordings'],
    summary: 'A signed URL that plays without credentials until expiresAt',
    security,
    request: {
      params: IdParams,
      query: z.object({ quality: Quality, ttl: z.coerce.number().int().min(1, 'must be at least 1 second').max(86400, 'must be at most 86400').optional() }),
    },
    responses: { 200: json(z.object({ url: z.string(), expiresAt: z.string() }), 'Signed URL'), ...authErrors, ...errorResponses({ 409: 'Archived' }) },
  }),
  () => {
    throw notImplemented('Playback URLs');
  },
);
