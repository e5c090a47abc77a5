/**
 * Retention. Recordings whose call started (`startTime`) more than RETENTION_DAYS_RECORDING days
 * ago lose their audio: the objects and renditions are deleted from storage and verified gone, and
 * the row stays as an anonymized tombstone (phones replaced by a keyed hash, status `deleted`,
 * hidden from every route but GET …/transcript) so that audits can still name what existed.
 * Transcripts are kept after the audio until RETENTION_DAYS_TRANSCRIPT after they were made: they
 * are sealed under the recording's data key, so a tombstone with a transcript keeps its wrapped
 * data key (the objects it opened are gone; it opens only the transcript), readable by the owner
 * and admins; transcript retention deletes the transcript, its word index and that key together,
 * and a tombstone without a transcript loses its key at once. Nothing on legal hold is touched.
 * Deletions that were interrupted, by a crash here or in DELETE, are finished
 * by `finishDeletions`.
 *
 * Each deletion is a sequence of idempotent steps, so a run killed anywhere loses nothing and
 * repeats nothing wrongly: (1) one conditional update turns the row into a tombstone only if it is
 * still live and not held at that instant (a hold placed a moment earlier wins); (2) the objects
 * are deleted and checked absent; (3) the audit event is written and the `recording.deleted`
 * webhook queued (at least once: a crash before (4) repeats them); (4) the tombstone stops naming
 * objects. A rerun finds rows after (1) through `unfinishedDeletions`, never among live ones.
 */
import type { Config } from '../config';
import type { Database } from '../db/client';
import { deriveHmacKey, hmacHex } from '../crypto/derive';
import {
  anonymizeRecordings,
  deleteExpiredTranscripts,
  expiredRecordings,
  finishTombstone,
  scanResumably,
  callTimeKey,
  unfinishedDeletions,
} from '../db/lifecycle';
import { listRenditions, type RecordingRow } from '../db/recordings';
import { destroyUnheldOriginals } from './legal-hold';
import { deleteRecording } from '../recordings/delete';
import { objectPrefixFor } from '../storage/object-keys';
import { StorageUnavailable, type BlobStore } from '../storage/blob-store';
import type { JobOptions } from './job';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** A tombstone younger than this may still be worked on by the request that made it. */
const UNFINISHED_AFTER_MS = HOUR_MS;

export interface RetentionDeps {
  db: Database;
  store: BlobStore;
}

/**
 * The keyed hash that replaces a phone number in a tombstone: HMAC-SHA-256 under a key derived
 * from the master key for this purpose only. The same number always gives the same hash (tombstones
 * of one caller can still be counted together), and without the master key the hash reveals
 * nothing, not even by trying every number.
 */
export async function anonymizePhone(masterKey: string, phone: string | null): Promise<string | null> {
  if (phone === null) return null;
  return `anon:${await hmacHex(await deriveHmacKey(masterKey, 'phone-anonymization'), phone)}`;
}

/**
 * Delete the recording's objects (original, every rendition, and anything else under its prefix),
 * then check each is gone: the same keys DELETE removes, plus a sweep for strays. Unredacted
 * originals kept by a redaction are destroyed before, by their own module, which forgets them too.
 */
async function deleteObjects(deps: RetentionDeps, row: RecordingRow): Promise<number> {
  const keys = new Set([row.objectKey, ...(await listRenditions(deps.db, row.id)).map((r) => r.objectKey)].filter((k): k is string => !!k));
  const prefix = objectPrefixFor(row.id);
  let cursor: string | undefined;
  do {
    const page = await deps.store.list(prefix, cursor);
    for (const key of page.keys) keys.add(key);
    cursor = page.cursor;
  } while (cursor);
  await Promise.all([...keys].map((key) => deps.store.delete(key)));
  for (const key of keys) {
    if ((await deps.store.head(key)) !== null) throw new Error(`storage still holds ${key} of recording ${row.id} after delete`);
  }
  return keys.size;
}

/** Steps (2)–(4) of a retention deletion, for a row already anonymized (and so not held). */
async function finishRetentionDeletion(deps: RetentionDeps, row: RecordingRow, now: Date, options: JobOptions): Promise<number> {
  const originals = await destroyUnheldOriginals(deps, row.id);
  const objects = originals.length + (await deleteObjects(deps, row));
  await options.audit({ action: 'recording.retention_delete', recordingId: row.id, subjectUserId: row.userId, outcome: 'success', details: { objects } });
  await options.emit('recording.deleted', { recordingId: row.id, userId: row.userId, reason: 'retention', deletedAt: row.deletedAt });
  await finishTombstone(deps.db, row.id, now);
  return objects;
}

export interface RetentionSummary {
  scanned: number;
  deleted: number;
  objectsDeleted: number;
  /** Anonymized, but the objects could not be removed yet: `finishDeletions` retries them. */
  unfinished: number;
  passComplete: boolean;
}

/** Daily: recordings whose call is older than RETENTION_DAYS_RECORDING (and not held) become anonymized tombstones without audio. */
export async function deleteExpiredRecordings(deps: RetentionDeps, config: Config, now: Date, options: JobOptions): Promise<RetentionSummary> {
  const cutoff = new Date(now.getTime() - config.RETENTION_DAYS_RECORDING * DAY_MS).toISOString();
  // A row still "recording" or "processing" may have a live call or a job writing to it, whatever
  // the age of its call: only once it was created longer ago than any live call can run
  // (LIVE_MAX_DURATION_HOURS, plus a day) is it treated as abandoned.
  const inFlightCutoff = new Date(now.getTime() - (config.LIVE_MAX_DURATION_HOURS * HOUR_MS + DAY_MS)).toISOString();
  const summary: RetentionSummary = { scanned: 0, deleted: 0, objectsDeleted: 0, unfinished: 0, passComplete: true };
  const scan = await scanResumably(
    deps.db,
    'retention',
    options.limits,
    now,
    (after, limit) => expiredRecordings(deps.db, cutoff, inFlightCutoff, after, limit),
    callTimeKey,
    async (rows) => {
      const changes = await Promise.all(
        rows.map(async (row) => ({
          id: row.id,
          callerPhone: await anonymizePhone(config.MASTER_ENCRYPTION_KEY, row.callerPhone),
          receiverPhone: await anonymizePhone(config.MASTER_ENCRYPTION_KEY, row.receiverPhone),
        })),
      );
      const tombstones = await anonymizeRecordings(deps.db, changes, now);
      for (const tombstone of tombstones) {
        // The tombstone has no wrapped key (or one kept only for its transcript), but still names its objects.
        try {
          summary.objectsDeleted += await finishRetentionDeletion(deps, tombstone, now, options);
          summary.deleted++;
        } catch (error) {
          if (error instanceof StorageUnavailable) throw error;
          summary.unfinished++;
          options.log.error('retention could not delete the objects of a recording; finishDeletions retries', { recordingId: tombstone.id, error: String(error) });
        }
      }
    },
  );
  return { ...summary, scanned: scan.scanned, passComplete: scan.passComplete };
}

export interface FinishSummary {
  checked: number;
  finished: number;
  failed: number;
}

/**
 * Hourly: tombstones whose deletion was interrupted are finished. Retention's (status `deleted`)
 * keep their anonymized row; DELETE's are finished by the very code DELETE runs, which removes the
 * row. A tombstone on legal hold cannot exist (a hold needs a live row, and both are conditional).
 */
export async function finishDeletions(deps: RetentionDeps, now: Date, options: JobOptions): Promise<FinishSummary> {
  const olderThan = new Date(now.getTime() - UNFINISHED_AFTER_MS).toISOString();
  const summary: FinishSummary = { checked: 0, finished: 0, failed: 0 };
  const scan = await scanResumably(
    deps.db,
    'finish-deletions',
    options.limits,
    now,
    (after, limit) => unfinishedDeletions(deps.db, olderThan, after, limit),
    (row) => row.id,
    async (rows) => {
      for (const row of rows) {
        try {
          if (row.status === 'deleted') {
            await finishRetentionDeletion(deps, row, now, options);
          } else {
            const report = await deleteRecording(deps, row);
            await options.audit({ action: 'recording.delete', recordingId: row.id, subjectUserId: row.userId, outcome: 'success', details: { objects: report.objects.length, finishedAfterInterruption: true } });
          }
          summary.finished++;
        } catch (error) {
          if (error instanceof StorageUnavailable) throw error;
          summary.failed++;
          options.log.error('finishing a deletion failed', { recordingId: row.id, error: String(error) });
        }
      }
    },
  );
  return { ...summary, checked: scan.scanned };
}

/** Daily: transcripts past RETENTION_DAYS_TRANSCRIPT whose recording is not held, with their index and, for a tombstone, its data key. */
export async function deleteExpiredTranscriptsJob(db: Database, config: Config, now: Date, options: JobOptions): Promise<{ deleted: number }> {
  const cutoff = new Date(now.getTime() - config.RETENTION_DAYS_TRANSCRIPT * DAY_MS).toISOString();
  let deleted = 0;
  for (let batch = 0; batch < options.limits.maxBatches; batch++) {
    if (options.limits.deadline !== undefined && Date.now() > options.limits.deadline) break;
    const count = await deleteExpiredTranscripts(db, cutoff, options.limits.batchSize);
    deleted += count;
    if (count < options.limits.batchSize) break;
  }
  return { deleted };
}
