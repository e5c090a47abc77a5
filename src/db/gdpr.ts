/** The queries behind a data subject's export and erasure: everything held about one user. No HTTP here. */
import { and, asc, count, eq, gt, isNotNull, isNull, notInArray, or, sql } from 'drizzle-orm';
import type { Database } from './client';
import type { RecordingRow } from './recordings';
import { auditEvents, consents, recordingPermissions, recordings, transcripts, userKeys } from './schema';

export type TranscriptRow = typeof transcripts.$inferSelect;
export type AuditEventRow = typeof auditEvents.$inferSelect;

/** A page of the user's live recordings, oldest first, after recording id `after`. */
export function liveRecordingsOf(db: Database, userId: string, after: string | null, limit: number): Promise<RecordingRow[]> {
  return db
    .select()
    .from(recordings)
    .where(and(eq(recordings.userId, userId), isNull(recordings.deletedAt), after ? gt(recordings.id, after) : undefined))
    .orderBy(asc(recordings.id))
    .limit(limit)
    .all();
}

export function transcriptsOf(db: Database, userId: string): Promise<TranscriptRow[]> {
  return db.select().from(transcripts).where(eq(transcripts.userId, userId)).orderBy(asc(transcripts.recordingId)).all();
}

/**
 * A page of audit events about the user, oldest first (by time, then id; each shard keeps its own
 * chain order): what they did (also through signed URLs of their recordings), what was done to
 * their data, and every event on a recording they own or owned.
 */
export function auditEventsAbout(db: Database, userId: string, after: { at: string; id: string } | null, limit: number): Promise<AuditEventRow[]> {
  const ownRecording = sql`${auditEvents.recordingId} in (select ${recordings.id} from ${recordings} where ${recordings.userId} = ${userId})`;
  const position = after ? or(gt(auditEvents.at, after.at), and(eq(auditEvents.at, after.at), gt(auditEvents.id, after.id))) : undefined;
  return db
    .select()
    .from(auditEvents)
    .where(and(position, or(eq(auditEvents.actor, userId), eq(auditEvents.actor, `signed-url:${userId}`), eq(auditEvents.subjectUserId, userId), ownRecording)))
    .orderBy(asc(auditEvents.at), asc(auditEvents.id))
    .limit(limit)
    .all();
}

/** The user's key versions, without any key material. */
export function keyVersionsOf(db: Database, userId: string) {
  return db
    .select({ version: userKeys.version, createdAt: userKeys.createdAt, retiredAt: userKeys.retiredAt, destroyedAt: userKeys.destroyedAt })
    .from(userKeys)
    .where(eq(userKeys.userId, userId))
    .orderBy(asc(userKeys.version))
    .all();
}

/** Key versions of the user whose secret still exists (0 once crypto-shredded). */
export async function liveKeySecrets(db: Database, userId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(userKeys).where(and(eq(userKeys.userId, userId), isNotNull(userKeys.wrappedSecret)));
  return row?.n ?? 0;
}

/**
 * Erasure step 1: hide every live recording of the user that is not on legal hold, in one statement.
 * A hold needs a live row, so from here on no hold can land on what erasure is deleting.
 */
export async function tombstoneUnheldRecordingsOf(db: Database, userId: string, now: Date): Promise<number> {
  const at = now.toISOString();
  const changed = await db
    .update(recordings)
    .set({ deletedAt: at, updatedAt: at })
    .where(and(eq(recordings.userId, userId), isNull(recordings.deletedAt), eq(recordings.legalHold, false)))
    .returning({ id: recordings.id });
  return changed.length;
}

export function heldRecordingsOf(db: Database, userId: string): Promise<RecordingRow[]> {
  return db
    .select()
    .from(recordings)
    .where(and(eq(recordings.userId, userId), isNull(recordings.deletedAt), eq(recordings.legalHold, true)))
    .orderBy(asc(recordings.id))
    .all();
}

/** Tombstones of the user, by id after `after`: retention's (kept, anonymized), or a deletion's not finished yet. */
export function tombstonesOf(db: Database, userId: string, limit: number, after: string | null = null): Promise<RecordingRow[]> {
  return db
    .select()
    .from(recordings)
    .where(and(eq(recordings.userId, userId), isNotNull(recordings.deletedAt), after ? gt(recordings.id, after) : undefined))
    .orderBy(asc(recordings.id))
    .limit(limit)
    .all();
}

/** Transcripts of the user except those of `keep` (retained recordings); returns how many went. */
export async function deleteTranscriptsOf(db: Database, userId: string, keep: string[]): Promise<number> {
  const deleted = await db
    .delete(transcripts)
    .where(and(eq(transcripts.userId, userId), keep.length > 0 ? notInArray(transcripts.recordingId, keep) : undefined))
    .returning({ recordingId: transcripts.recordingId });
  return deleted.length;
}

export async function deleteConsent(db: Database, userId: string): Promise<boolean> {
  const deleted = await db.delete(consents).where(eq(consents.userId, userId)).returning({ userId: consents.userId });
  return deleted.length > 0;
}

/** What is left of the user outside `keep` (the retained recordings): all zero after a complete erasure. */
export async function remainingOf(db: Database, userId: string, keep: string[]) {
  const notKept = <T extends typeof recordings.id | typeof transcripts.recordingId>(column: T) => (keep.length > 0 ? notInArray(column, keep) : undefined);
  const [[recordingRows], [transcriptRows], [grantsHeld], [consentRows]] = await Promise.all([
    db.select({ n: count() }).from(recordings).where(and(eq(recordings.userId, userId), notKept(recordings.id))),
    db.select({ n: count() }).from(transcripts).where(and(eq(transcripts.userId, userId), notKept(transcripts.recordingId))),
    db.select({ n: count() }).from(recordingPermissions).where(eq(recordingPermissions.granteeUserId, userId)),
    db.select({ n: count() }).from(consents).where(eq(consents.userId, userId)),
  ]);
  return { recordings: recordingRows?.n ?? 0, transcripts: transcriptRows?.n ?? 0, grantsHeld: grantsHeld?.n ?? 0, consent: (consentRows?.n ?? 0) > 0 };
}
