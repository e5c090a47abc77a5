/**
 * The Recording resource as every client sees it (`GET /recordings/{id}`, the live protocols'
 * `completed`, a GDPR export): one zod schema that is validator, type and OpenAPI component. Lives
 * below routes/ because services (src/recordings/json.ts, src/compliance/gdpr.ts) build it.
 */
import { z } from '@hono/zod-openapi';

const FORMATS = ['wav', 'webm', 'ogg', 'mp3', 'm4a', 'flac'] as const;
export const STATUSES = ['recording', 'processing', 'ready', 'failed'] as const;
const TIERS = ['hot', 'cool', 'cold', 'archive'] as const;
/** Where an object is kept, warmest first: the recording's `storageTier`, which every storage provider maps to its classes. */
export type StorageTier = (typeof TIERS)[number];

/**
 * Archived, or on its way back from the archive: the original may not be readable (S3 Glacier,
 * Azure Archive), so audio is not served and media and transcription jobs wait for the restore.
 */
export function inArchive(row: { storageTier: string; pendingTier: string | null }): boolean {
  return row.storageTier === 'archive' || Boolean(row.pendingTier);
}

export const RecordingSchema = z
  .object({
    id: z.string(),
    callId: z.string(),
    userId: z.string(),
    callerPhone: z.string().nullable(),
    receiverPhone: z.string().nullable(),
    startTime: z.string(),
    endTime: z.string().nullable(),
    durationMs: z.number().int().nullable(),
    format: z.enum(FORMATS),
    contentType: z.string(),
    size: z.number().int(),
    status: z.enum(STATUSES),
    failureReason: z.string().nullable().optional(),
    storageTier: z.enum(TIERS),
    legalHold: z.boolean(),
    pauses: z.array(z.object({ at: z.string(), durationMs: z.number().int() })).optional(),
    gaps: z.array(z.object({ fromSequence: z.number().int(), toSequence: z.number().int() })).optional(),
    redactions: z.array(z.object({ startMs: z.number().int(), endMs: z.number().int(), reason: z.string(), at: z.string() })).optional(),
    renditions: z.array(z.enum(['high', 'low', 'mp3'])).optional(),
    createdAt: z.string(),
  })
  .openapi('Recording');

export type RecordingJson = z.infer<typeof RecordingSchema>;
