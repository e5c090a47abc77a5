/**
 * Deleting a recording: the row is tombstoned first (so every route answers 404 at once) by a
 * conditional update that a legal hold wins: while held, or when a hold lands a moment before,
 * nothing is changed and nothing in storage is touched (409). Then unredacted originals, the
 * original and every rendition are deleted from storage and verified gone, then the rows. A
 * failure midway leaves a tombstone that a retry completes; never a row that claims bytes that
 * are gone. `deleteRecordingOnRequest` is the same deletion asked for by a caller: audited and
 * announced to the webhooks; retention and GDPR erasure audit and announce their own way.
 */
import type { ChangeRequestDeps } from '../compliance/change-request';
import { emitEvent } from '../compliance/webhooks';
import type { Database } from '../db/client';
import { findRecording, listRenditions, purgeRecordingRows, tombstoneUnheldRecording, type RecordingRow } from '../db/recordings';
import { AppError, notFound } from '../errors';
import { destroyUnheldOriginals } from '../compliance/legal-hold';
import type { BlobStore } from '../storage/blob-store';

export interface DeletionReport {
  recordingId: string;
  objects: { key: string; goneFromStorage: boolean }[];
}

export async function deleteRecording(deps: { db: Database; store: BlobStore }, row: RecordingRow): Promise<DeletionReport> {
  if (!(await tombstoneUnheldRecording(deps.db, row.id))) {
    if ((await findRecording(deps.db, row.id))?.legalHold) throw new AppError('legal_hold', 'The recording is on legal hold and cannot be deleted');
    throw notFound();
  }
  const originals = await destroyUnheldOriginals(deps, row.id);
  const keys = [row.objectKey, ...(await listRenditions(deps.db, row.id)).map((r) => r.objectKey)].filter((k): k is string => !!k);
  await Promise.all(keys.map((key) => deps.store.delete(key)));
  const objects = [
    ...originals.map((key) => ({ key, goneFromStorage: true })),
    ...(await Promise.all(keys.map(async (key) => ({ key, goneFromStorage: (await deps.store.head(key)) === null })))),
  ];
  if (objects.some((o) => !o.goneFromStorage)) throw new Error(`storage still holds an object of ${row.id} after delete`);
  await purgeRecordingRows(deps.db, [row.id]);
  return { recordingId: row.id, objects };
}

export type DeleteRequestDeps = Omit<ChangeRequestDeps, 'log'>;

/**
 * DELETE of `row` by a caller who may change it: deleted as above, `recording.delete` audited (a
 * legal hold as the denial's reason: the hold is decided by the conditional tombstone, not by the
 * row the caller read, so a hold placed in between wins), then `recording.deleted` to the webhooks.
 */
export async function deleteRecordingOnRequest(deps: DeleteRequestDeps, row: RecordingRow): Promise<DeletionReport> {
  const report = await deleteRecording(deps, row).catch(async (error: unknown) => {
    if (error instanceof AppError && error.code === 'legal_hold') await deps.audit({ action: 'recording.delete', recordingId: row.id, outcome: 'denied', details: { reason: 'legal hold' } });
    throw error;
  });
  await deps.audit({ action: 'recording.delete', recordingId: row.id, subjectUserId: row.userId, outcome: 'success', details: { objects: report.objects.length } });
  await emitEvent({ queue: deps.webhookQueue, config: deps.config }, 'recording.deleted', { recordingId: row.id, userId: row.userId });
  return report;
}
