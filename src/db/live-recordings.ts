/**
 * The Recording row of a live call while it is recorded: created at `started` with status
 * `recording` and no object (audio routes answer 409 until it is finalized), its `size` raised as
 * chunks are acked, and completed at the end. Every update is conditional on the row still being
 * a live `recording`, so a DELETE or a GDPR erasure during the call is never undone by it.
 */
import { and, eq, isNull, lt } from 'drizzle-orm';
import type { Database } from './client';
import { recordings } from './schema';
import type { NewRecording } from './recordings';

const stillRecording = (id: string) => and(eq(recordings.id, id), eq(recordings.status, 'recording'), isNull(recordings.deletedAt));

export async function insertLiveRecording(db: Database, row: NewRecording): Promise<void> {
  await db.insert(recordings).values({ ...row, status: 'recording', endTime: null, objectKey: null, ciphertextSize: null, wrappedDataKey: null, keyVersion: null });
}

/** Raise `size` to the bytes acked so far (never lowers it: reports may arrive out of order). */
export async function reportLiveSize(db: Database, id: string, size: number): Promise<void> {
  await db
    .update(recordings)
    .set({ size, updatedAt: new Date().toISOString() })
    .where(and(stillRecording(id), lt(recordings.size, size)));
}

export type FinishedLiveRecording = Pick<NewRecording, 'endTime' | 'size' | 'objectKey' | 'ciphertextSize' | 'wrappedDataKey' | 'keyVersion' | 'pauses' | 'gaps'>;

/**
 * From `recording` to `processing` with its object. `finished` again for a row an earlier,
 * interrupted finalization already moved on; `gone` when the row was deleted or erased during the call.
 */
export async function finishLiveRecording(db: Database, id: string, finished: FinishedLiveRecording): Promise<'finished' | 'gone'> {
  const updated = await db
    .update(recordings)
    .set({ ...finished, status: 'processing', updatedAt: new Date().toISOString() })
    .where(stillRecording(id))
    .returning({ id: recordings.id });
  if (updated.length > 0) return 'finished';
  const row = await db.select({ objectKey: recordings.objectKey, deletedAt: recordings.deletedAt }).from(recordings).where(eq(recordings.id, id)).get();
  return row && row.deletedAt === null && row.objectKey === finished.objectKey ? 'finished' : 'gone';
}

/** A call refused after it started (its audio is not the declared format): the row ends `failed`, with no object. */
export async function failLiveRecording(db: Database, id: string, reason: string, endTime: string): Promise<void> {
  await db.update(recordings).set({ status: 'failed', failureReason: reason, endTime, updatedAt: new Date().toISOString() }).where(stillRecording(id));
}
