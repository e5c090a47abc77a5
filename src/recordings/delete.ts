/**
 * Deleting a recording: refused while on legal hold; otherwise the row is tombstoned first (so every
 * route answers 404 at once), then the original and every rendition are deleted from storage and
 * verified gone, then the rows. A failure midway leaves a tombstone that a retry completes; never
 * a row that claims bytes that are gone.
 */
import type { Database } from '../context';
import { listRenditions, purgeRecordingRows, tombstoneRecording, type RecordingRow } from '../db/recordings';
import { AppError } from '../errors';
import type { BlobStore } from '../storage/blob-store';

export interface DeletionReport {
  recordingId: string;
  objects: { key: string; goneFromStorage: boolean }[];
}

export async function deleteRecording(deps: { db: Database; store: BlobStore }, row: RecordingRow): Promise<DeletionReport> {
  if (row.legalHold) throw new AppError('legal_hold', 'The recording is on legal hold and cannot be deleted');
  await tombstoneRecording(deps.db, row.id);
  const keys = [row.objectKey, ...(await listRenditions(deps.db, row.id)).map((r) => r.objectKey)].filter((k): k is string => !!k);
  await Promise.all(keys.map((key) => deps.store.delete(key)));
  const objects = await Promise.all(keys.map(async (key) => ({ key, goneFromStorage: (await deps.store.head(key)) === null })));
  if (objects.some((o) => !o.goneFromStorage)) throw new Error(`storage still holds an object of ${row.id} after delete`);
  await purgeRecordingRows(deps.db, [row.id]);
  return { recordingId: row.id, objects };
}
