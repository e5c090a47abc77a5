/**
 * What the media pipeline (src/media/) writes to D1: the rendition rows and the recording's processing status,
 * and the reason the last attempt gave (read back from the audit chain by the dead-letter
 * consumer). A recording that reached `ready` is never turned `failed` by a late duplicate.
 */
import { and, eq, isNull, ne } from 'drizzle-orm';
import { newestEventDetails } from './audit';
import type { Database } from './client';
import type { RecordingRow } from './recordings';
import { recordings, renditions } from './schema';

type RenditionQuality = (typeof renditions.$inferSelect)['quality'];

/** What processing made of a recording (src/media/process-recording.ts): its audio facts and the stored renditions. */
export interface ProcessedRows {
  durationMs: number;
  format: RecordingRow['format'];
  contentType: string;
  renditions: Omit<typeof renditions.$inferInsert, 'recordingId' | 'createdAt'>[];
}

/** The audit action of an attempt that will be retried; its details carry `attempt` and `reason`. */
export const RETRY_ACTION = 'recording.processing_retry';

/**
 * In one D1 batch (a transaction): upsert every rendition row by (recording, quality) and mark the
 * recording ready. False when the recording was deleted meanwhile (its new rows then go too).
 */
export async function saveProcessed(db: Database, recordingId: string, processed: ProcessedRows): Promise<boolean> {
  const now = new Date().toISOString();
  const [updated] = await db.batch([
    db
      .update(recordings)
      .set({ status: 'ready', failureReason: null, durationMs: processed.durationMs, format: processed.format, contentType: processed.contentType, updatedAt: now })
      .where(and(eq(recordings.id, recordingId), isNull(recordings.deletedAt)))
      .returning({ id: recordings.id }),
    ...processed.renditions.map((r) => {
      const values = { objectKey: r.objectKey, format: r.format, contentType: r.contentType, size: r.size, ciphertextSize: r.ciphertextSize, durationMs: r.durationMs, createdAt: now };
      return db
        .insert(renditions)
        .values({ recordingId, quality: r.quality, ...values })
        .onConflictDoUpdate({ target: [renditions.recordingId, renditions.quality], set: values });
    }),
  ]);
  if (updated.length > 0) return true;
  await db.delete(renditions).where(eq(renditions.recordingId, recordingId));
  return false;
}

export async function deleteRenditionRow(db: Database, recordingId: string, quality: RenditionQuality): Promise<void> {
  await db.delete(renditions).where(and(eq(renditions.recordingId, recordingId), eq(renditions.quality, quality)));
}

/** `failed` with a reason users read; false when the recording is gone or already ready. */
export async function markFailed(db: Database, recordingId: string, reason: string): Promise<boolean> {
  const updated = await db
    .update(recordings)
    .set({ status: 'failed', failureReason: reason, updatedAt: new Date().toISOString() })
    .where(and(eq(recordings.id, recordingId), isNull(recordings.deletedAt), ne(recordings.status, 'ready')))
    .returning({ id: recordings.id });
  return updated.length > 0;
}

/** The attempt number and reason of the latest retried attempt, if any. */
export async function lastRetry(db: Database, recordingId: string): Promise<{ attempt: number; reason: string } | null> {
  const details = await newestEventDetails(db, recordingId, RETRY_ACTION);
  const attempt = details?.attempt;
  const reason = details?.reason;
  return typeof attempt === 'number' && typeof reason === 'string' ? { attempt, reason } : null;
}
