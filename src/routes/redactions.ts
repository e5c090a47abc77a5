/** Redaction of a time span to silence in the original and every rendition (admin/service). */
import { createRoute, z } from '@hono/zod-openapi';
import { loadRecordingFor } from '../auth/middleware';
import { audit } from '../context';
import { AppError } from '../errors';
import { redactRecording } from '../media/redact';
import { toRecordingJson } from '../recordings/json';
import { createBlobStore } from '../storage/select';
import { RecordingSchema } from '../domain/recording';
import { authErrors, errorResponses, IdParams, json, security } from './schemas';
import { createRouter } from './router';

export const redactionRoutes = createRouter();

const ACTION = 'recording.redact';

const RedactionBody = z
  .object({
    startMs: z.number().int('must be a whole number of milliseconds').min(0, 'must be 0 or more').openapi({ example: 61_000 }),
    endMs: z.number().int('must be a whole number of milliseconds').min(1, 'must be greater than startMs').openapi({ example: 79_500 }),
    reason: z.string().trim().min(1, 'is required').max(500).openapi({ example: 'card number read out' }),
  })
  .refine((body) => body.endMs > body.startMs, { message: 'must be greater than startMs', path: ['endMs'] })
  .openapi('RedactionRequest');

redactionRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/recordings/{id}/redactions',
    tags: ['recordings'],
    summary: 'Replace a span with silence (202; the Recording lists redactions)',
    description: [
      'Samples from `startMs` (inclusive) to `endMs` (exclusive), counted at the audio’s own sample rate, become digital silence; nothing else changes, and neither does the duration.',
      'The original is redacted before this answers: from then on download and stream serve the redacted audio, and the old renditions are no longer served. The renditions are regenerated from the redacted original by the media queue: the answer is 202 with `status: "processing"` and no `renditions`, and the recording is `ready` again once they exist.',
      'The unredacted original is destroyed, unless the recording is on legal hold: then it is kept (encrypted, not served by any route) until the hold is released, so that it can still be produced.',
      'PCM WAV and FLAC stay lossless and keep their size; other formats are re-encoded in the same codec at about the same bit rate.',
      'Admins and API keys only: users and auditors get 403 (404 for a recording they cannot see). 400 when `endMs` is not after `startMs` or is past the end of the audio; 409 `archived` for an archived recording; 409 `conflict` while it is being recorded or processed (retry once it is ready).',
    ].join('\n\n'),
    security,
    request: {
      params: IdParams,
      body: { content: { 'application/json': { schema: RedactionBody } }, required: true },
    },
    responses: {
      202: json(RecordingSchema, 'Redacted; the renditions are being regenerated'),
      ...authErrors,
      ...errorResponses({ 409: '`archived`, or `conflict`: being recorded or processed', 413: '`payload_too_large`: body over 64 KiB', 503: 'The media processor is unavailable; nothing changed' }),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const row = await loadRecordingFor(c, id, 'admin', ACTION);
    const config = c.get('config');
    const deps = {
      db: c.get('db'),
      store: createBlobStore(c.env, config),
      config,
      ffmpeg: c.env,
      queue: c.env.MEDIA_QUEUE,
      audit: (event: Parameters<typeof audit>[1]) => audit(c, event),
    };
    try {
      return c.json(toRecordingJson(await redactRecording(deps, row, body, new Date())), 202);
    } catch (error) {
      if (error instanceof AppError && (error.status === 400 || error.status === 409)) {
        await audit(c, { action: ACTION, recordingId: id, subjectUserId: row.userId, outcome: 'denied', details: { reason: error.message } });
      }
      throw error;
    }
  },
);
