/**
 * Recordings: upload, list, metadata, delete, download, Range streaming and signed playback URLs.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { enforce, loadRecordingFor } from '../auth/middleware';
import { mayListRecordings } from '../auth/permissions';
import { audit, auditAs, changeRequestDeps, type AppContext } from '../context';
import { AppError } from '../errors';
import { metrics } from '../observability/metrics';
import { deleteRecordingOnRequest } from '../recordings/delete';
import { describeRecording, toRecordingJson } from '../recordings/json';
import { listRecordingPage } from '../recordings/list';
import { issuePlaybackUrl, serveAudio, serveSignedPlayback, type AudioAnswer, type AuditEvent, type ServeDeps } from '../recordings/serve';
import { uploadRecording, type UploadDeps } from '../recordings/upload';
import { createBlobStore } from '../storage/select';
import { RecordingSchema, STATUSES } from '../domain/recording';
import { E164, IsoTime } from '../domain/schemas';
import { authErrors, errorResponses, IdParams, json, security } from './schemas';
import { createRouter } from './router';

export const recordingRoutes = createRouter();

const ListQuery = z.object({
  callId: z.string().max(200).optional(),
  phone: E164.optional(),
  status: z.enum(STATUSES).optional(),
  from: IsoTime.optional(),
  to: IsoTime.optional(),
  userId: z.string().max(256).optional(),
  limit: z.coerce.number().int().min(1, 'must be between 1 and 200').max(200, 'must be between 1 and 200').default(50),
  cursor: z.string().max(512).optional(),
  q: z.string().max(200).optional().openapi({ description: 'Words the transcript must all contain (any order, case-insensitive); not for auditors' }),
});

const Quality = z
  .enum(['original', 'high', 'low', 'mp3'])
  .default('original')
  .openapi({ description: 'original (default), or a rendition once it exists (else the original; X-Rendition says which was served): high and low (Opus in WebM), mp3 (MP3, for clients that need it; beyond the contract)' });

/** What the audio service needs from this request; `auditEvent` records as the caller unless told otherwise. */
function serveDeps(c: AppContext, auditEvent: (event: AuditEvent) => Promise<unknown> = (event) => audit(c, event)): ServeDeps {
  const config = c.get('config');
  return { db: c.get('db'), store: createBlobStore(c.env, config), config, log: c.get('log'), audit: auditEvent };
}

/** Audio on the wire: the service's status and headers, the body streamed as it is decrypted. */
const audioResponse = (c: AppContext, answer: AudioAnswer) => c.body(answer.body, answer.status, answer.headers);

const audioResponses = {
  200: { description: 'Audio bytes, with their exact Content-Length; Cache-Control: private, no-store' },
};

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
  async (c) => {
    const config = c.get('config');
    const deps: UploadDeps = {
      db: c.get('db'),
      store: createBlobStore(c.env, config),
      config,
      mediaQueue: c.env.MEDIA_QUEUE,
      webhookQueue: c.env.WEBHOOK_QUEUE,
      audit: (event) => audit(c, event),
    };
    const body = c.req.raw.body;
    if (!body) throw new AppError('invalid_request', 'body: is empty');
    const row = await uploadRecording(deps, c.get('principal'), { contentType: c.req.header('content-type') ?? '', query: c.req.query(), body });
    metrics.uploadBytes.inc({ source: 'upload' }, row.size);
    c.header('location', `/api/v1/recordings/${row.id}`);
    return c.json(toRecordingJson(row), 201);
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
  async (c) => {
    const principal = c.get('principal');
    const q = c.req.valid('query');
    await enforce(c, mayListRecordings(principal, { userId: q.userId, transcriptSearch: q.q !== undefined }), { action: 'recording.list', subjectUserId: q.userId });
    const page = await listRecordingPage({ db: c.get('db'), config: c.get('config') }, principal, q);
    await audit(c, { action: 'recording.list', outcome: 'success', subjectUserId: q.userId ?? null, details: { count: page.items.length, ...(q.q === undefined ? {} : { transcriptSearch: true }) } });
    return c.json(page, 200);
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
  async (c) => {
    const { id } = c.req.valid('param');
    const row = await loadRecordingFor(c, id, 'metadata', 'recording.read');
    await audit(c, { action: 'recording.read', recordingId: id, subjectUserId: row.userId, outcome: 'success' });
    return c.json(await describeRecording(c.get('db'), row), 200);
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
  async (c) => {
    const { id } = c.req.valid('param');
    const row = await loadRecordingFor(c, id, 'change', 'recording.delete');
    await deleteRecordingOnRequest(changeRequestDeps(c), row);
    return c.body(null, 204);
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
    responses: { ...audioResponses, ...authErrors, ...errorResponses({ 409: 'Archived, or no finished audio yet' }) },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const row = await loadRecordingFor(c, id, 'audio', 'recording.download');
    return audioResponse(c, await serveAudio(serveDeps(c), row, { quality: 'original', attachment: true, action: 'recording.download' })) as never;
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
      ...audioResponses,
      206: { description: 'The requested range, with Content-Range and its exact Content-Length' },
      ...authErrors,
      ...errorResponses({ 409: 'Archived', 416: 'Range not satisfiable' }),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const row = await loadRecordingFor(c, id, 'audio', 'recording.stream');
    return audioResponse(c, await serveAudio(serveDeps(c), row, { quality: c.req.valid('query').quality, range: c.req.header('range'), action: 'recording.stream' })) as never;
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
  async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const row = await loadRecordingFor(c, id, 'audio', 'recording.playback_url');
    const config = c.get('config');
    const principal = c.get('principal');
    const signed = await issuePlaybackUrl(serveDeps(c), row, { id: principal.id, role: principal.role }, {
      quality: q.quality,
      ttlSeconds: q.ttl ?? config.PLAYBACK_URL_TTL_SECONDS,
      base: config.PUBLIC_BASE_URL ?? new URL(c.req.url).origin,
    });
    return c.json({ url: signed.url, expiresAt: signed.expiresAt }, 200);
  },
);

/** The target of signed playback URLs: no credentials, the signature is the authorization. */
export const playbackRoutes = createRouter();

playbackRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/{id}/play',
    tags: ['recordings'],
    summary: 'Play through a signed URL (no credentials; Range supported); 403 when expired or altered',
    request: {
      params: IdParams,
      query: z.object({ quality: z.string().optional(), exp: z.string().optional(), by: z.string().optional(), role: z.string().optional(), sig: z.string().optional() }),
    },
    responses: {
      ...audioResponses,
      206: { description: 'The requested range' },
      ...errorResponses({ 403: 'Expired or altered link, or its signer may no longer hear the recording (read grant revoked)', 404: 'Recording deleted or erased', 409: 'Archived', 416: 'Range not satisfiable' }),
    },
  }),
  async (c: AppContext) => {
    const id = c.req.param('id')!;
    const { quality, exp, by, role, sig } = c.req.query();
    // No principal: the actor is the link's signer once the link is verified, `signed-url` before.
    const auditSigned = (event: AuditEvent) =>
      auditAs(c, { ...event, actor: event.outcome === 'success' && by ? `signed-url:${by}` : 'signed-url', actorRole: null });
    return audioResponse(c, await serveSignedPlayback(serveDeps(c, auditSigned), id, { quality, exp, by, role, sig }, c.req.header('range')));
  },
);
