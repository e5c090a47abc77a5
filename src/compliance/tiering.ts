/**
 * Storage tiers: archive and restore on request, tiering by age from the daily cron, and the
 * completion of restores that a provider finishes asynchronously (S3 Glacier, Azure rehydration).
 *
 * Invariant: the row never claims a warmer tier than its objects can be read in. Going to
 * `archive`, the row changes first (audio reads are refused from that instant), then the objects;
 * coming back, the objects move first and the row follows once every one of them is readable. In
 * between, `pendingTier` says where the recording is going and reads stay refused.
 */
import type { Config } from '../config';
import type { Database } from '../db/client';
import {
  completeTierChange,
  markRestorePending,
  pendingRestores,
  recordRestore,
  scanResumably,
  tieringCandidates,
  callTimeKey,
  updateTier,
  type BatchLimits,
} from '../db/lifecycle';
import { findRecording, listRenditions, type RecordingRow } from '../db/recordings';
import { AppError } from '../errors';
import type { Logger } from '../observability/logger';
import { StorageUnavailable, type BlobStore, type StorageTier } from '../storage/blob-store';
import { transcriptionNotDue } from '../transcripts/due';

export interface TierDeps {
  db: Database;
  store: BlobStore;
  /**
   * Queue the processing of a recording again: a job that found its recording archived left it
   * `processing`, and a restore is where it is redone. A processed recording whose automatic
   * transcript is still due (its transcribe job was deferred while archived) gets the same message:
   * the media job finds it processed and queues the transcription. Without it (tests of tiering
   * alone) the restore only moves objects.
   */
  resumeProcessing?: (recordingId: string) => Promise<void>;
}

const DAY_MS = 86_400_000;
/** Warmest first: a tier's rank is its index. */
const TIER_ORDER: readonly StorageTier[] = ['hot', 'cool', 'cold', 'archive'];
const rank = (tier: StorageTier) => TIER_ORDER.indexOf(tier);

/** The tier a recording of `ageMs` belongs in by the ARCHIVAL_* / COLD_* / ARCHIVE_* settings. */
function tierForAge(config: Pick<Config, 'ARCHIVAL_AFTER_DAYS' | 'COLD_AFTER_DAYS' | 'ARCHIVE_AFTER_DAYS'>, ageMs: number): StorageTier {
  if (ageMs >= config.ARCHIVE_AFTER_DAYS * DAY_MS) return 'archive';
  if (ageMs >= config.COLD_AFTER_DAYS * DAY_MS) return 'cold';
  if (ageMs >= config.ARCHIVAL_AFTER_DAYS * DAY_MS) return 'cool';
  return 'hot';
}

/** The original and every rendition: the objects that move together. */
async function objectKeysOf(db: Database, row: RecordingRow): Promise<string[]> {
  const keys = [row.objectKey, ...(await listRenditions(db, row.id)).map((r) => r.objectKey)];
  return keys.filter((k): k is string => !!k);
}

/**
 * Ask the provider to put each object in `tier`; objects already there (and not being restored)
 * are left alone, so a repeated call costs one `head` per object. True when any object is still
 * on its way (a restore the provider finishes later).
 */
async function moveObjects(store: BlobStore, keys: string[], tier: StorageTier, recordingId: string): Promise<{ pending: boolean }> {
  let pending = false;
  for (const key of keys) {
    const head = await store.head(key);
    if (!head) throw new Error(`object ${key} of recording ${recordingId} is missing from storage`);
    if (head.restoring) {
      pending = true;
      continue;
    }
    if (head.tier === tier) continue;
    if ((await store.setTier(key, tier)).pending) pending = true;
  }
  return { pending };
}

/** A live call is still writing its bytes: there is nothing whole to move yet. */
function refuseWhileRecorded(row: RecordingRow, what: string): void {
  if (row.status === 'recording') throw new AppError('conflict', `The recording is still being recorded; ${what} it once the call has ended`);
}

/**
 * Move a recording to the archive tier, at any status but `recording`. Processing still running
 * finishes into the archive tier (`settleNewObjects`), and a job that starts on an archived
 * recording leaves it `processing` for the restore to redo. Already archived: the objects are
 * checked again (a previous attempt that failed midway is completed) and the row is returned
 * unchanged. Refused with 409 `conflict` while it is still recorded, or while a restore is pending.
 */
export async function archiveRecording(deps: TierDeps, row: RecordingRow, now: Date): Promise<RecordingRow> {
  refuseWhileRecorded(row, 'archive');
  if (row.pendingTier) throw new AppError('conflict', 'A restore of this recording is in progress; archive it once the restore has finished');
  let current = row;
  if (row.storageTier !== 'archive') {
    const updated = await updateTier(deps.db, row.id, row.storageTier, 'archive', now);
    if (!updated) throw new AppError('conflict', 'The recording changed while it was being archived; try again');
    current = updated;
  }
  // Listed after the row changed: a rendition saved before that is moved here, one saved after
  // it is moved by the job itself (settleNewObjects reads the row after saving its renditions).
  await moveObjects(deps.store, await objectKeysOf(deps.db, current), 'archive', current.id);
  return current;
}

/**
 * After processing saved its renditions: if the recording went to a colder tier meanwhile, the new
 * objects follow it there, so that no hot object is left behind an archived row. Nothing to do
 * while a restore is pending (everything is on its way back to hot).
 */
export async function settleNewObjects(deps: TierDeps, recordingId: string): Promise<void> {
  const row = await findRecording(deps.db, recordingId);
  if (!row || row.pendingTier || row.storageTier === 'hot') return;
  await moveObjects(deps.store, await objectKeysOf(deps.db, row), row.storageTier, row.id);
  // A restore that ran meanwhile may have moved these objects back before they were moved here:
  // then they follow the row once more, so no archived object is left behind a hot row.
  const after = await findRecording(deps.db, recordingId);
  if (after && !after.pendingTier && after.storageTier !== row.storageTier) await moveObjects(deps.store, await objectKeysOf(deps.db, after), after.storageTier, after.id);
}

export interface RestoreOutcome {
  row: RecordingRow;
  /** True when the provider finishes the restore later (202): `pendingTier` is set meanwhile. */
  pending: boolean;
}

/**
 * Bring a recording back to `hot`. Where the provider restores at once (R2, S3 below Glacier,
 * Azure below Archive) the row is hot when this returns; otherwise it stays archived with
 * `pendingTier: 'hot'` until a later call (the same request again, or the hourly cron) finds every
 * object readable. Calling it on a hot recording changes nothing.
 */
export async function restoreRecording(deps: TierDeps, row: RecordingRow, requestedBy: string, now: Date): Promise<RestoreOutcome> {
  if (row.storageTier === 'hot' && !row.pendingTier) return { row, pending: false };
  refuseWhileRecorded(row, 'restore');
  await recordRestore(deps.db, row.id, requestedBy, now);
  return advanceRestore(deps, row, 'hot', now);
}

/** Move the objects towards `target`; the row follows once all are there, or records the pending restore. */
async function advanceRestore(deps: TierDeps, row: RecordingRow, target: StorageTier, now: Date): Promise<RestoreOutcome> {
  const { pending } = await moveObjects(deps.store, await objectKeysOf(deps.db, row), target, row.id);
  if (pending) {
    const updated = row.pendingTier === target ? row : await markRestorePending(deps.db, row.id, target, now);
    if (!updated) throw new AppError('not_found', 'Recording not found');
    return { row: updated, pending: true };
  }
  const updated = await completeTierChange(deps.db, row.id, target, now);
  if (!updated) throw new AppError('not_found', 'Recording not found');
  // Processing (or transcription) that found the recording archived is redone now that the original is readable.
  if (target === 'hot' && (updated.status === 'processing' || (updated.status === 'ready' && !(await transcriptionNotDue(deps.db, updated))))) await deps.resumeProcessing?.(updated.id);
  return { row: updated, pending: false };
}

export interface JobOptions {
  limits: BatchLimits & { deadline?: number };
  log: Logger;
}

export interface TieringSummary {
  scanned: number;
  moved: Record<Exclude<StorageTier, 'hot'>, number>;
  failed: number;
  passComplete: boolean;
}

/**
 * Daily: every settled recording whose age (counted from the start of its call, or from its last
 * restore if it was restored since) calls for a colder tier is moved there, straight to the coldest
 * one due. Recordings being recorded or processed, and those with a restore pending, are left
 * alone. A failure on one recording is logged and counted and the scan goes on (it is retried on
 * the next pass); a storage outage stops the job.
 */
export async function tierByAge(deps: TierDeps, config: Config, now: Date, options: JobOptions): Promise<TieringSummary> {
  const summary: TieringSummary = { scanned: 0, moved: { cool: 0, cold: 0, archive: 0 }, failed: 0, passComplete: true };
  if (!config.ARCHIVAL_ENABLED) return summary;
  const before = (days: number) => new Date(now.getTime() - days * DAY_MS).toISOString();
  const cutoffs = { cool: before(config.ARCHIVAL_AFTER_DAYS), cold: before(config.COLD_AFTER_DAYS), archive: before(config.ARCHIVE_AFTER_DAYS) };
  const scan = await scanResumably(
    deps.db,
    'tiering',
    options.limits,
    now,
    (after, limit) => tieringCandidates(deps.db, cutoffs, after, limit),
    (candidate) => callTimeKey(candidate.row),
    async (candidates) => {
      for (const { row, agingSince } of candidates) {
        const target = tierForAge(config, now.getTime() - Date.parse(agingSince));
        if (target === 'hot' || rank(target) <= rank(row.storageTier)) continue;
        try {
          if (target === 'archive') {
            await archiveRecording(deps, row, now);
          } else {
            await moveObjects(deps.store, await objectKeysOf(deps.db, row), target, row.id);
            // Undefined when a request changed the row meanwhile (archived, restored): it wins.
            if (!(await updateTier(deps.db, row.id, row.storageTier, target, now))) continue;
          }
          summary.moved[target]++;
        } catch (error) {
          if (error instanceof StorageUnavailable) throw error;
          summary.failed++;
          options.log.error('tiering failed for a recording', { recordingId: row.id, target, error: String(error) });
        }
      }
    },
  );
  return { ...summary, scanned: scan.scanned, passComplete: scan.passComplete };
}

export interface RestoreSummary {
  checked: number;
  completed: number;
  stillPending: number;
  failed: number;
  /** Recordings whose restore finished in this run. */
  completedIds: string[];
}

/** Hourly: restores a provider finishes asynchronously are completed once every object is readable. */
export async function completePendingRestores(deps: TierDeps, now: Date, options: JobOptions): Promise<RestoreSummary> {
  const summary: RestoreSummary = { checked: 0, completed: 0, stillPending: 0, failed: 0, completedIds: [] };
  const scan = await scanResumably(
    deps.db,
    'pending-restores',
    options.limits,
    now,
    (after, limit) => pendingRestores(deps.db, after, limit),
    (row) => row.id,
    async (rows) => {
      for (const row of rows) {
        try {
          const outcome = await advanceRestore(deps, row, row.pendingTier as StorageTier, now);
          if (outcome.pending) summary.stillPending++;
          else {
            summary.completed++;
            summary.completedIds.push(row.id);
          }
        } catch (error) {
          if (error instanceof StorageUnavailable) throw error;
          summary.failed++;
          options.log.error('completing a restore failed', { recordingId: row.id, error: String(error) });
        }
      }
    },
  );
  return { ...summary, checked: scan.scanned };
}

