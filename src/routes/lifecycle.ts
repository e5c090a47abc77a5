/**
 * Archive/restore (owner or admin) and legal hold (admin; history for admins and auditors).
 * The work is done by compliance/tiering.ts and compliance/legal-hold.ts, which the cron shares.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { enforce, loadRecordingFor } from '../auth/middleware';
import { mayReadLegalHoldHistory } from '../auth/permissions';
import { audit, changeRequestDeps, type AppContext } from '../context';
import { legalHoldHistory, placeLegalHold, releaseLegalHold } from '../compliance/legal-hold';
import { archiveRecording, restoreRecording } from '../compliance/tiering';
import { AppError } from '../errors';
import { enqueueProcessing } from '../domain/media-jobs';
import { describeRecording } from '../recordings/json';
import { createBlobStore } from '../storage/select';
import { RecordingSchema } from '../domain/recording';
import { authErrors, errorResponses, IdParams, json, security } from './schemas';
import { createRouter } from './router';

export const lifecycleRoutes = createRouter();

/** A restore queues the processing that an archived recording deferred. */
const tierDeps = (c: AppContext) => ({
  db: c.get('db'),
  store: createBlobStore(c.env, c.get('config')),
  resumeProcessing: (recordingId: string) => enqueueProcessing(c.env.MEDIA_QUEUE, recordingId),
});


/** A refusal by the service (409) is a denied attempt: audited, then rethrown. */
async function auditRefusal<T>(c: AppContext, action: string, recordingId: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof AppError && error.status === 409) await audit(c, { action, recordingId, outcome: 'denied', details: { reason: error.message } });
    throw error;
  }
}

lifecycleRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/lifecycle/{id}/archive',
    tags: ['lifecycle'],
    summary: 'Move a recording to the archive tier (owner or admin)',
    description:
      'The recording and every rendition move to the provider class mapped to `archive` (see the README), at any status but `recording`. From the moment this answers, download, stream, playback-url and signed playback answer 409 `archived` until it is restored. A recording still `processing` may be archived: a job already running stores its renditions in the archive tier; one not yet started waits, and the recording stays `processing` until it is restored, when the job runs again. Idempotent: archiving an archived recording answers 200 with it unchanged (and completes a previous attempt that failed midway). 409 `conflict` while the recording is still being recorded (a live call), or while a restore is pending. Users with a read grant and auditors get 403.',
    security,
    request: { params: IdParams },
    responses: {
      200: json(RecordingSchema, 'The recording, with storageTier "archive"'),
      ...authErrors,
      ...errorResponses({ 409: 'Still being recorded (a live call), or a restore is pending' }),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const row = await loadRecordingFor(c, id, 'change', 'recording.archive');
    const deps = tierDeps(c);
    const archived = await auditRefusal(c, 'recording.archive', id, () => archiveRecording(deps, row, new Date()));
    await audit(c, { action: 'recording.archive', recordingId: id, subjectUserId: row.userId, outcome: 'success', details: { from: row.storageTier } });
    return c.json(await describeRecording(c.get('db'), archived), 200);
  },
);

lifecycleRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/lifecycle/{id}/restore',
    tags: ['lifecycle'],
    summary: 'Bring a recording back to the hot tier (owner or admin); 202 while the provider restores asynchronously',
    description:
      'Where the provider restores at once (R2; S3 below Glacier; Azure below Archive) the answer is 200 with storageTier "hot". Where it restores asynchronously (S3 Glacier Flexible Retrieval: hours; Azure Archive rehydration: up to 15 hours) the answer is 202 with the recording still archived; the hourly cron completes the restore once the provider is done, and calling this again polls (200 once done, 202 meanwhile). Restoring a hot recording answers 200 unchanged. A restored recording ages through the tiers again from the time of the restore. A recording whose processing waited while it was archived is queued for processing once restored.',
    security,
    request: { params: IdParams },
    responses: {
      200: json(RecordingSchema, 'Restored: storageTier "hot"'),
      202: json(RecordingSchema, 'Restore started; the recording stays archived until the provider finishes'),
      ...authErrors,
      ...errorResponses({ 409: 'Still being recorded (a live call)' }),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const row = await loadRecordingFor(c, id, 'change', 'recording.restore');
    const deps = tierDeps(c);
    const outcome = await auditRefusal(c, 'recording.restore', id, () => restoreRecording(deps, row, c.get('principal').id, new Date()));
    await audit(c, { action: 'recording.restore', recordingId: id, subjectUserId: row.userId, outcome: 'success', details: { from: row.storageTier, pending: outcome.pending } });
    const body = await describeRecording(c.get('db'), outcome.row);
    return outcome.pending ? c.json(body, 202) : c.json(body, 200);
  },
);

lifecycleRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/lifecycle/{id}/legal-hold',
    tags: ['lifecycle'],
    summary: 'Place a legal hold (admin only)',
    description:
      'While held, nothing deletes the recording: DELETE answers 409 `legal_hold`, retention passes it over, GDPR erasure reports it as retained. The hold is recorded with who placed it, when and the optional reason. Idempotent: on a held recording this answers 200 and keeps the open hold (and its reason) as it is. Emits the `recording.legal_hold` webhook (legalHold true) when it placed one.',
    security,
    request: {
      params: IdParams,
      body: { content: { 'application/json': { schema: z.object({ reason: z.string().trim().min(1).max(1000).optional() }) } }, required: false },
    },
    responses: { 200: json(RecordingSchema, 'The recording, with legalHold true'), ...authErrors, ...errorResponses({ 413: '`payload_too_large`: body over 64 KiB' }) },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const { reason } = c.req.valid('json');
    const row = await loadRecordingFor(c, id, 'admin', 'recording.legal_hold');
    const change = await placeLegalHold(changeRequestDeps(c), { recording: row, by: c.get('principal').id, now: new Date() }, reason ?? null);
    return c.json(await describeRecording(c.get('db'), change.row), 200);
  },
);

lifecycleRoutes.openapi(
  createRoute({
    method: 'delete',
    path: '/lifecycle/{id}/legal-hold',
    tags: ['lifecycle'],
    summary: 'Release a legal hold (admin only)',
    description:
      'Closes the open hold (who released it and when are kept in its history) and destroys what only the hold kept: the unredacted originals of redactions made while it was held. Idempotent: on a recording not held this answers 200 unchanged. Emits the `recording.legal_hold` webhook (legalHold false) when it changed something.',
    security,
    request: { params: IdParams },
    responses: { 200: json(RecordingSchema, 'The recording, with legalHold false'), ...authErrors },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const row = await loadRecordingFor(c, id, 'admin', 'recording.legal_hold_release');
    const change = await releaseLegalHold(changeRequestDeps(c), { recording: row, by: c.get('principal').id, now: new Date() });
    return c.json(await describeRecording(c.get('db'), change.row), 200);
  },
);

const LegalHoldHistorySchema = z
  .object({
    recordingId: z.string(),
    legalHold: z.boolean(),
    holds: z.array(
      z.object({
        reason: z.string().nullable(),
        placedBy: z.string(),
        placedAt: z.string(),
        releasedBy: z.string().nullable(),
        releasedAt: z.string().nullable(),
      }),
    ),
  })
  .openapi('LegalHoldHistory');

lifecycleRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/lifecycle/{id}/legal-hold',
    tags: ['lifecycle'],
    summary: 'Legal-hold history of a recording, newest first (admin or auditor)',
    security,
    request: { params: IdParams },
    responses: { 200: json(LegalHoldHistorySchema, 'Every hold placed on the recording'), ...authErrors },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const row = await loadRecordingFor(c, id, 'metadata', 'recording.legal_hold_history');
    await enforce(c, mayReadLegalHoldHistory(c.get('principal')), { action: 'recording.legal_hold_history', recordingId: id });
    const holds = await legalHoldHistory(c.get('db'), id);
    await audit(c, { action: 'recording.legal_hold_history', recordingId: id, subjectUserId: row.userId, outcome: 'success' });
    return c.json({ recordingId: id, legalHold: row.legalHold, holds }, 200);
  },
);
