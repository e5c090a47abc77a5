/** Recording queries: one row per recording, its renditions and read grants. No HTTP here. */
import { and, desc, eq, exists, gte, inArray, isNull, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { Database } from './client';
import { AppError } from '../errors';
import { recordingPermissions, recordings, renditions, transcriptTerms, transcripts } from './schema';
import { decodeCursor, pageOf } from '../domain/cursor';

export type RecordingRow = typeof recordings.$inferSelect;
export type NewRecording = typeof recordings.$inferInsert;
export type RenditionRow = typeof renditions.$inferSelect;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `rec_` + 26 Crockford base32 characters: 48 bits of milliseconds then 80 random bits (ULID layout). */
export function newRecordingId(now = Date.now()): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  const random = crypto.getRandomValues(new Uint8Array(16));
  return `rec_${time}${Array.from(random, (b) => CROCKFORD[b % 32]).join('')}`;
}

/** Live recordings by status and storage tier: the `recordings` gauge of /metrics. */
export function countRecordingsByStatusAndTier(db: Database): Promise<{ status: string; tier: string; n: number }[]> {
  return db.all<{ status: string; tier: string; n: number }>(
    sql`select status, storage_tier as tier, count(*) as n from recordings where deleted_at is null group by status, storage_tier`,
  );
}

export async function insertRecording(db: Database, row: NewRecording): Promise<void> {
  await db.insert(recordings).values(row);
}

/** A live (not deleted) recording, or undefined. */
export function findRecording(db: Database, id: string): Promise<RecordingRow | undefined> {
  return db.select().from(recordings).where(and(eq(recordings.id, id), isNull(recordings.deletedAt))).get();
}

export function listRenditions(db: Database, recordingId: string): Promise<RenditionRow[]> {
  return db.select().from(renditions).where(eq(renditions.recordingId, recordingId)).all();
}

export async function hasReadGrant(db: Database, recordingId: string, userId: string): Promise<boolean> {
  const row = await db
    .select({ one: sql<number>`1` })
    .from(recordingPermissions)
    .where(and(eq(recordingPermissions.recordingId, recordingId), eq(recordingPermissions.granteeUserId, userId)))
    .get();
  return row !== undefined;
}

export interface ListFilters {
  /** Only recordings this user owns or was granted; undefined = everyone's (admin, auditor). */
  visibleTo?: string;
  userId?: string;
  callId?: string;
  phone?: string;
  status?: RecordingRow['status'];
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
  /** Only recordings whose transcript index holds every one of these tokens (search-index.ts). */
  transcriptTokens?: string[];
}

/** Newest first, stable under equal timestamps (ties broken by id), served by the created_at indexes. */
export async function listRecordings(db: Database, f: ListFilters): Promise<{ items: RecordingRow[]; nextCursor: string | null }> {
  const where: SQL[] = [isNull(recordings.deletedAt)];
  if (f.visibleTo !== undefined) {
    const grant = db
      .select({ one: sql`1` })
      .from(recordingPermissions)
      .where(and(eq(recordingPermissions.recordingId, recordings.id), eq(recordingPermissions.granteeUserId, f.visibleTo)));
    where.push(or(eq(recordings.userId, f.visibleTo), exists(grant))!);
  }
  if (f.userId) where.push(eq(recordings.userId, f.userId));
  if (f.callId) where.push(eq(recordings.callId, f.callId));
  if (f.phone) where.push(or(eq(recordings.callerPhone, f.phone), eq(recordings.receiverPhone, f.phone))!);
  if (f.status) where.push(eq(recordings.status, f.status));
  if (f.transcriptTokens) {
    const matching = db
      .select({ id: transcriptTerms.recordingId })
      .from(transcriptTerms)
      .where(inArray(transcriptTerms.token, f.transcriptTokens))
      .groupBy(transcriptTerms.recordingId)
      .having(sql`count(*) = ${f.transcriptTokens.length}`);
    where.push(inArray(recordings.id, matching));
  }
  if (f.from) where.push(gte(recordings.startTime, new Date(f.from).toISOString()));
  if (f.to) where.push(lte(recordings.startTime, new Date(f.to).toISOString()));
  if (f.cursor) {
    const after = decodeCursor(f.cursor);
    where.push(or(lt(recordings.createdAt, after.time), and(eq(recordings.createdAt, after.time), lt(recordings.id, after.id)))!);
  }
  const rows = await db
    .select()
    .from(recordings)
    .where(and(...where))
    .orderBy(desc(recordings.createdAt), desc(recordings.id))
    .limit(f.limit + 1)
    .all();
  return pageOf(rows, f.limit, (row) => ({ time: row.createdAt, id: row.id }));
}

/**
 * Hide the recording at once (every route answers 404 from here on), before its bytes are removed:
 * one statement that applies only if it is not on legal hold at that instant, so a hold placed a
 * moment earlier wins (and a hold needs a live row, so one placed later fails). A tombstone keeps
 * its first `deletedAt` when a resumed deletion repeats this. False when nothing was changed.
 */
export async function tombstoneUnheldRecording(db: Database, id: string): Promise<boolean> {
  const now = new Date().toISOString();
  const changed = await db
    .update(recordings)
    .set({ deletedAt: sql`coalesce(${recordings.deletedAt}, ${now})`, updatedAt: now })
    .where(and(eq(recordings.id, id), eq(recordings.legalHold, false)))
    .returning({ id: recordings.id });
  return changed.length > 0;
}

/** Remove every row that belongs to the recording (after its objects are gone). */
export async function purgeRecordingRows(db: Database, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.batch([
    db.delete(transcripts).where(inArray(transcripts.recordingId, ids)),
    db.delete(renditions).where(inArray(renditions.recordingId, ids)),
    db.delete(recordingPermissions).where(inArray(recordingPermissions.recordingId, ids)),
    db.delete(recordings).where(inArray(recordings.id, ids)),
  ]);
}
