/**
 * Transcripts: read (owner, grantee, admin; not auditors: it is the call's content) and store from
 * a speech-to-text system (admin/service). A PUT transcript replaces the automatic one for good.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { loadRecordingFor } from '../auth/middleware';
import { audit, type AppContext } from '../context';
import { AppError } from '../errors';
import { publicSegments, type TranscriptContent } from '../transcripts/content';
import { mayTranscribe } from '../transcripts/consent';
import { readTranscript, saveTranscript, type StoredTranscript } from '../transcripts/store';
import { authErrors, errorResponses, IdParams, json, security } from './schemas';
import { createRouter } from './router';

export const TranscriptSchema = z
  .object({
    recordingId: z.string(),
    language: z.string().min(2).max(35),
    text: z.string().max(2_000_000),
    segments: z.array(z.object({ start: z.number().min(0), end: z.number().min(0), speaker: z.string().max(100).nullable(), text: z.string().max(100_000) })).max(100_000),
  })
  .openapi('Transcript');

/** The contract's shape plus two additive fields: who made the transcript, and which engine (automatic ones). */
const StoredTranscriptSchema = TranscriptSchema.extend({
  source: z.enum(['automatic', 'service']).openapi({ description: 'Beyond the contract: `automatic` (made by this service) or `service` (PUT by a speech-to-text system)' }),
  engine: z.string().nullable().openapi({ description: 'Beyond the contract: the engine of an automatic transcript (`ffmpeg-pocketsphinx`, `workers-ai-whisper-large-v3-turbo`); null for a service’s', example: 'ffmpeg-pocketsphinx' }),
}).openapi('StoredTranscript');

export const transcriptRoutes = createRouter();

transcriptRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/{id}/transcript',
    tags: ['transcripts'],
    summary: 'The transcript (404 when none)',
    security,
    request: { params: IdParams },
    responses: { 200: json(StoredTranscriptSchema, 'Transcript'), ...authErrors },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    // A transcript is the call's content: readable with audio rights (owner, grantee, admin), not by auditors,
    // and after audio retention by its owner and admins until transcript retention.
    const recording = await loadRecordingFor(c, id, 'audio', 'transcript.read', { retainedTranscript: true });
    const transcript = await readTranscript(readDeps(c), recording);
    if (!transcript) {
      await audit(c, { action: 'transcript.read', recordingId: id, subjectUserId: recording.userId, outcome: 'failure', details: { reason: 'none' } });
      throw new AppError('not_found', 'This recording has no transcript');
    }
    await audit(c, { action: 'transcript.read', recordingId: id, subjectUserId: recording.userId, outcome: 'success', details: { source: transcript.source } });
    return c.json(toJson(id, transcript), 200);
  },
);

const toJson = (recordingId: string, t: TranscriptContent & Pick<StoredTranscript, 'source' | 'engine'>) => ({ recordingId, language: t.language, text: t.text, segments: publicSegments(t.segments), source: t.source, engine: t.engine });
const readDeps = (c: AppContext) => ({ db: c.get('db'), config: c.get('config') });

transcriptRoutes.openapi(
  createRoute({
    method: 'put',
    path: '/recordings/{id}/transcript',
    tags: ['transcripts'],
    summary: 'Store a transcript (admin or service)',
    security,
    request: { params: IdParams, body: { content: { 'application/json': { schema: TranscriptSchema.omit({ recordingId: true }) } }, required: true } },
    responses: { 200: json(StoredTranscriptSchema, 'Stored'), ...authErrors, ...errorResponses({ 413: '`payload_too_large`: body over 5 MiB' }) },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const row = await loadRecordingFor(c, id, 'admin', 'transcript.write');
    const body = c.req.valid('json');
    if (!(await mayTranscribe(c.get('db'), row.userId))) {
      await audit(c, { action: 'transcript.write', recordingId: id, outcome: 'denied', details: { reason: 'consent' } });
      throw new AppError('consent_required', 'The user has not consented to transcription');
    }
    for (const [i, segment] of body.segments.entries()) {
      if (segment.end < segment.start) throw new AppError('invalid_request', `segments.${i}.end: must not be before start`);
    }
    const content = { language: body.language, text: body.text, segments: body.segments };
    if (!(await saveTranscript(readDeps(c), row, content, { source: 'service' }))) throw new AppError('not_found', 'Recording not found');
    await audit(c, { action: 'transcript.write', recordingId: id, subjectUserId: row.userId, outcome: 'success', details: { language: body.language, segments: body.segments.length } });
    return c.json(toJson(id, { ...content, source: 'service', engine: null }), 200);
  },
);
