/**
 * Lifecycle queries: the candidates of each background job (tiering, retention, restores, stale
 * uploads), the conditional updates that make each step safe to repeat, legal-hold history, and
 * the job cursors that let a batch job resume where its previous run stopped. No HTTP here.
 */
import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lt, ne, notInArray, or, sql, type SQL } from 'drizzle-orm';
import type { Database } from './client';
import type { StorageTier } from '../domain/recording';
import { jobCursors, legalHolds, openUploads, recordingPermissions, recordings, renditions, tierRestores, transcripts } from './schema';
import type { RecordingRow } from './recordings';

export type LegalHoldRow = typeof legalHolds.$inferSelect;
export type OpenUploadRow = typeof openUploads.$inferSelect;

/** Statuses whose bytes may still be written (a live call, a processing job): never tiered. */
export const IN_FLIGHT_STATUSES = ['recording', 'processing'] as const;

// ---------------------------------------------------------------------------------------------
// Job cursors

/** How much one run of a job may do: `maxBatches` pages of `batchSize` rows. */
export interface BatchLimits {
  batchSize: number;
  maxBatches: number;
}

async function readJobCursor(db: Database, job: string): Promise<string | null> {
  const row = await db.select({ cursor: jobCursors.cursor }).from(jobCursors).where(eq(jobCursors.job, job)).get();
  return row?.cursor ?? null;
}

async function saveJobCursor(db: Database, job: string, cursor: string | null, now: Date): Promise<void> {
  const at = now.toISOString();
  await db
    .insert(jobCursors)
    .values({ job, cursor, runStartedAt: at, updatedAt: at })
    .onConflictDoUpdate({ target: jobCursors.job, set: { cursor, updatedAt: at } });
}

export interface ScanResult {
  /** Rows handed to `handle` in this run. */
  scanned: number;
  /** True when the scan reached the end of its candidates (the next run starts from the beginning). */
  passComplete: boolean;
}

/**
 * Keyset scan that survives interruption: pages come from `fetchPage(after, limit)` in a stable
 * order, the cursor (the key of the last row of a handled page) is saved in `job_cursors` after
 * every page, and a short page ends the pass (the cursor is cleared). A run killed midway redoes at
 * most the page it was in, so every `handle` must be idempotent, which the conditional updates
 * below make it. Rows a handler leaves unchanged (a failure, a restore still pending) are passed
 * over until the next pass instead of blocking the front of the queue.
 */
export async function scanResumably<T>(
  db: Database,
  job: string,
  limits: BatchLimits & { deadline?: number },
  now: Date,
  fetchPage: (after: string | null, limit: number) => Promise<T[]>,
  keyOf: (row: T) => string,
  handle: (rows: T[]) => Promise<void>,
): Promise<ScanResult> {
  let after = await readJobCursor(db, job);
  let scanned = 0;
  for (let batch = 0; batch < limits.maxBatches; batch++) {
    if (limits.deadline !== undefined && Date.now() > limits.deadline) return { scanned, passComplete: false };
    const rows = await fetchPage(after, limits.batchSize);
    if (rows.length > 0) await handle(rows);
    scanned += rows.length;
    if (rows.length < limits.batchSize) {
      await saveJobCursor(db, job, null, now);
      return { scanned, passComplete: true };
    }
    after = keyOf(rows[rows.length - 1]!);
    await saveJobCursor(db, job, after, now);
  }
  return { scanned, passComplete: false };
}

/**
 * `startTime|id`: the order of the age scans. A recording's age is the age of its call, counted
 * from `startTime`; every row has one (required on upload, the `start` of a live call; stored as
 * ISO-8601 UTC, so lexical order is time order), so `createdAt` is never needed in its place.
 */
export const callTimeKey = (row: { startTime: string; id: string }) => `${row.startTime}|${row.id}`;

function afterCallTimeKey(after: string | null): SQL | undefined {
  if (!after) return undefined;
  const bar = after.lastIndexOf('|');
  const startTime = after.slice(0, bar);
  const id = after.slice(bar + 1);
  return or(gt(recordings.startTime, startTime), and(eq(recordings.startTime, startTime), gt(recordings.id, id)));
}

// ---------------------------------------------------------------------------------------------
// Tiering

export interface TierCutoffs {
  /** ISO times: a recording whose age is counted from before `cool` is due for cool, and so on. */
  cool: string;
  cold: string;
  archive: string;
}

/**
 * When tiering counts a recording's age from: its last restore, else the start of its call. Written
 * with explicit table names because drizzle leaves columns unqualified in a select list, where a
 * correlated subquery would resolve them against its own table.
 */
const agingSince = sql<string>`coalesce((select tr.requested_at from tier_restores tr where tr.recording_id = "recordings"."id"), "recordings"."start_time")`;

/**
 * Settled recordings whose tier is warmer than their age calls for. Rows leave this set as soon as
 * they are moved, so a repeated page finds nothing twice.
 */
export function tieringCandidates(db: Database, cutoffs: TierCutoffs, after: string | null, limit: number): Promise<{ row: RecordingRow; agingSince: string }[]> {
  return db
    .select({ row: recordings, agingSince })
    .from(recordings)
    .where(
      and(
        isNull(recordings.deletedAt),
        isNull(recordings.pendingTier),
        notInArray(recordings.status, [...IN_FLIGHT_STATUSES, 'deleted']),
        // A call younger than the first cutoff cannot be due (a restore only makes it younger).
        lt(recordings.startTime, cutoffs.cool),
        or(
          and(eq(recordings.storageTier, 'hot'), lt(agingSince, cutoffs.cool)),
          and(eq(recordings.storageTier, 'cool'), lt(agingSince, cutoffs.cold)),
          and(eq(recordings.storageTier, 'cold'), lt(agingSince, cutoffs.archive)),
        ),
        afterCallTimeKey(after),
      ),
    )
    .orderBy(asc(recordings.startTime), asc(recordings.id))
    .limit(limit)
    .all();
}

/** Set the row's tier if it is still `from` with no restore pending; the updated row, or undefined. */
export function updateTier(db: Database, id: string, from: StorageTier, to: StorageTier, now: Date): Promise<RecordingRow | undefined> {
  return db
    .update(recordings)
    .set({ storageTier: to, updatedAt: now.toISOString() })
    .where(and(eq(recordings.id, id), eq(recordings.storageTier, from), isNull(recordings.pendingTier), isNull(recordings.deletedAt)))
    .returning()
    .get();
}

/** A restore the provider finishes later: remember where the recording is going. */
export function markRestorePending(db: Database, id: string, target: StorageTier, now: Date): Promise<RecordingRow | undefined> {
  return db
    .update(recordings)
    .set({ pendingTier: target, updatedAt: now.toISOString() })
    .where(and(eq(recordings.id, id), isNull(recordings.deletedAt)))
    .returning()
    .get();
}

/** The objects are readable in `target`: the row says so, and no restore is pending any more. */
export function completeTierChange(db: Database, id: string, target: StorageTier, now: Date): Promise<RecordingRow | undefined> {
  return db
    .update(recordings)
    .set({ storageTier: target, pendingTier: null, updatedAt: now.toISOString() })
    .where(and(eq(recordings.id, id), isNull(recordings.deletedAt)))
    .returning()
    .get();
}

/** Tiering counts the recording's age from now on (see `tier_restores`). */
export async function recordRestore(db: Database, id: string, requestedBy: string, now: Date): Promise<void> {
  const requestedAt = now.toISOString();
  await db
    .insert(tierRestores)
    .values({ recordingId: id, requestedAt, requestedBy })
    .onConflictDoUpdate({ target: tierRestores.recordingId, set: { requestedAt, requestedBy } });
}

/** Recordings waiting for the provider to finish a restore, by id. */
export function pendingRestores(db: Database, after: string | null, limit: number): Promise<RecordingRow[]> {
  return db
    .select()
    .from(recordings)
    .where(and(isNotNull(recordings.pendingTier), isNull(recordings.deletedAt), after ? gt(recordings.id, after) : undefined))
    .orderBy(asc(recordings.id))
    .limit(limit)
    .all();
}

// ---------------------------------------------------------------------------------------------
// Retention

/**
 * Live recordings whose call started before `cutoff`, not on legal hold. Rows still being recorded
 * or processed qualify only once also created before `inFlightCutoff` (by then no live call or job
 * can still be writing to them, however old the call they hold).
 */
export function expiredRecordings(db: Database, cutoff: string, inFlightCutoff: string, after: string | null, limit: number): Promise<RecordingRow[]> {
  return db
    .select()
    .from(recordings)
    .where(
      and(
        isNull(recordings.deletedAt),
        eq(recordings.legalHold, false),
        // Naming the live statuses lets (status, start_time) skip the tombstones, which pile up.
        inArray(recordings.status, ['ready', 'failed', ...IN_FLIGHT_STATUSES]),
        lt(recordings.startTime, cutoff),
        or(inArray(recordings.status, ['ready', 'failed']), lt(recordings.createdAt, inFlightCutoff)),
        afterCallTimeKey(after),
      ),
    )
    .orderBy(asc(recordings.startTime), asc(recordings.id))
    .limit(limit)
    .all();
}

export interface Anonymization {
  id: string;
  callerPhone: string | null;
  receiverPhone: string | null;
}

/**
 * The first, atomic step of a retention deletion, for a whole page in one transaction: each row
 * becomes a tombstone (hidden from every route but its transcript's, status `deleted`, phones
 * replaced by their keyed hashes, tier `archive`) only if it is still live and not on legal hold at
 * that instant. Its wrapped data key is destroyed, unless the recording has a transcript at that
 * instant: the transcript is sealed under that key and kept until its own retention, so the key
 * stays (once the audio objects are deleted it opens nothing else) and `deleteExpiredTranscripts`
 * destroys it with the transcript. Returns the rows that were changed; a row anonymized before is
 * never hashed twice.
 */
export async function anonymizeRecordings(db: Database, changes: Anonymization[], now: Date): Promise<RecordingRow[]> {
  if (changes.length === 0) return [];
  const hasTranscript = sql`exists (select 1 from transcripts t where t.recording_id = "recordings"."id")`;
  const at = now.toISOString();
  const statements = changes.map((change) =>
    db
      .update(recordings)
      .set({
        status: 'deleted',
        // No objects are left to tier: the coldest tier keeps the tombstone out of every tiering scan.
        storageTier: 'archive',
        pendingTier: null,
        deletedAt: at,
        updatedAt: at,
        callerPhone: change.callerPhone,
        receiverPhone: change.receiverPhone,
        wrappedDataKey: sql`case when ${hasTranscript} then ${recordings.wrappedDataKey} else null end`,
        keyVersion: sql`case when ${hasTranscript} then ${recordings.keyVersion} else null end`,
      })
      .where(and(eq(recordings.id, change.id), isNull(recordings.deletedAt), eq(recordings.legalHold, false)))
      .returning(),
  );
  const results = await db.batch(statements as [(typeof statements)[number], ...(typeof statements)[number][]]);
  return results.flat();
}

/**
 * Tombstones whose deletion has not finished: retention tombstones (status `deleted`) that still
 * name objects or renditions, and tombstones left by an interrupted DELETE (any other status),
 * hidden since before `olderThan` so that a request still working on one is not raced.
 */
export function unfinishedDeletions(db: Database, olderThan: string, after: string | null, limit: number): Promise<RecordingRow[]> {
  const hasRenditions = sql`exists (select 1 from renditions rn where rn.recording_id = "recordings"."id")`;
  return db
    .select()
    .from(recordings)
    .where(
      and(
        isNotNull(recordings.deletedAt),
        lt(recordings.deletedAt, olderThan),
        or(ne(recordings.status, 'deleted'), isNotNull(recordings.objectKey), hasRenditions),
        after ? gt(recordings.id, after) : undefined,
      ),
    )
    .orderBy(asc(recordings.id))
    .limit(limit)
    .all();
}

/**
 * The last step of a retention deletion, once every object is gone: the tombstone stops naming
 * objects, and its renditions and read grants go. The transcript stays: it has its own retention.
 */
export async function finishTombstone(db: Database, id: string, now: Date): Promise<void> {
  await db.batch([
    db.delete(renditions).where(eq(renditions.recordingId, id)),
    db.delete(recordingPermissions).where(eq(recordingPermissions.recordingId, id)),
    db
      .update(recordings)
      .set({ objectKey: null, ciphertextSize: null, updatedAt: now.toISOString() })
      .where(and(eq(recordings.id, id), eq(recordings.status, 'deleted'))),
  ]);
}

/**
 * Deletes up to `limit` transcripts created before `cutoff` whose recording is not on legal hold
 * (their word index goes with them, by cascade); returns how many. A retention tombstone kept its
 * wrapped data key only for its transcript: the key is destroyed in the same transaction. Each
 * statement checks the hold in the same instant, and the ids never become bound parameters (D1
 * allows 100 per query).
 */
export async function deleteExpiredTranscripts(db: Database, cutoff: string, limit: number): Promise<number> {
  const notHeld = sql`not exists (select 1 from recordings r where r.id = "transcripts"."recording_id" and r.legal_hold = 1)`;
  // Both statements select the same rows: one transaction, and a total order.
  const due = db
    .select({ recordingId: transcripts.recordingId })
    .from(transcripts)
    .where(and(lt(transcripts.createdAt, cutoff), notHeld))
    .orderBy(asc(transcripts.createdAt), asc(transcripts.recordingId))
    .limit(limit);
  const [, deleted] = await db.batch([
    db
      .update(recordings)
      .set({ wrappedDataKey: null, keyVersion: null })
      .where(and(inArray(recordings.id, due), eq(recordings.status, 'deleted'), isNotNull(recordings.deletedAt))),
    db.delete(transcripts).where(inArray(transcripts.recordingId, due)).returning({ recordingId: transcripts.recordingId }),
  ]);
  return deleted.length;
}

// ---------------------------------------------------------------------------------------------
// Stale multipart uploads

export function staleUploads(db: Database, startedBefore: string, after: string | null, limit: number): Promise<OpenUploadRow[]> {
  return db
    .select()
    .from(openUploads)
    .where(and(lt(openUploads.startedAt, startedBefore), after ? gt(openUploads.uploadId, after) : undefined))
    .orderBy(asc(openUploads.uploadId))
    .limit(limit)
    .all();
}

/** A multipart upload just begun: tracked until it completes, so one a lost request leaves behind is aborted by the cron. */
export async function trackUpload(db: Database, upload: { uploadId: string; objectKey: string; recordingId: string | null }, now = new Date()): Promise<void> {
  await db.insert(openUploads).values({ ...upload, startedAt: now.toISOString() });
}

export async function forgetUpload(db: Database, uploadId: string): Promise<void> {
  await db.delete(openUploads).where(eq(openUploads.uploadId, uploadId));
}

// ---------------------------------------------------------------------------------------------
// Legal holds

/**
 * Place a hold: the history row and the flag are written in one transaction, and only when the
 * recording is live and not already held. True when this call placed it.
 */
export async function insertLegalHold(db: Database, hold: { id: string; recordingId: string; reason: string | null; placedBy: string; placedAt: string }): Promise<boolean> {
  const live = and(eq(recordings.id, hold.recordingId), isNull(recordings.deletedAt), eq(recordings.legalHold, false));
  const [, flagged] = await db.batch([
    db.insert(legalHolds).select(
      db
        .select({
          id: sql<string>`${hold.id}`.as('id'),
          recordingId: recordings.id,
          reason: sql<string | null>`${hold.reason}`.as('reason'),
          placedBy: sql<string>`${hold.placedBy}`.as('placed_by'),
          placedAt: sql<string>`${hold.placedAt}`.as('placed_at'),
          releasedBy: sql<string | null>`null`.as('released_by'),
          releasedAt: sql<string | null>`null`.as('released_at'),
        })
        .from(recordings)
        .where(live),
    ),
    db
      .update(recordings)
      .set({ legalHold: true, updatedAt: hold.placedAt })
      .where(live)
      .returning({ id: recordings.id }),
  ]);
  return flagged.length > 0;
}

/** Release the open hold (history row closed, flag cleared) in one transaction. True when this call released it. */
export async function closeLegalHold(db: Database, recordingId: string, releasedBy: string, releasedAt: string): Promise<boolean> {
  const [, cleared] = await db.batch([
    db
      .update(legalHolds)
      .set({ releasedBy, releasedAt })
      .where(and(eq(legalHolds.recordingId, recordingId), isNull(legalHolds.releasedAt))),
    db
      .update(recordings)
      .set({ legalHold: false, updatedAt: releasedAt })
      .where(and(eq(recordings.id, recordingId), eq(recordings.legalHold, true)))
      .returning({ id: recordings.id }),
  ]);
  return cleared.length > 0;
}

/** Every hold ever placed on the recording, newest first. */
export function listLegalHolds(db: Database, recordingId: string): Promise<LegalHoldRow[]> {
  return db.select().from(legalHolds).where(eq(legalHolds.recordingId, recordingId)).orderBy(desc(legalHolds.placedAt), desc(legalHolds.id)).all();
}
