/** Transcript queries: one sealed transcript per recording and its keyed-hash word index. */
import { and, eq, exists, isNotNull, sql, type SQL } from 'drizzle-orm';
import type { Database } from './client';
import type { RecordingRow } from './recordings';
import { recordings, transcriptTerms, transcripts } from './schema';

export type TranscriptRow = typeof transcripts.$inferSelect;

/**
 * A recording whose audio retention deleted (a tombstone, status `deleted`) while its transcript is
 * kept until transcript retention: the row the transcript is read with, its data key kept for it.
 */
export function findRetainedTranscriptRecording(db: Database, recordingId: string): Promise<RecordingRow | undefined> {
  return db
    .select()
    .from(recordings)
    .where(
      and(
        eq(recordings.id, recordingId),
        eq(recordings.status, 'deleted'),
        isNotNull(recordings.deletedAt),
        exists(db.select({ recordingId: transcripts.recordingId }).from(transcripts).where(eq(transcripts.recordingId, recordingId))),
      ),
    )
    .get();
}

export function findTranscript(db: Database, recordingId: string): Promise<TranscriptRow | undefined> {
  return db.select().from(transcripts).where(eq(transcripts.recordingId, recordingId)).get();
}

export interface TranscriptWrite {
  recordingId: string;
  userId: string;
  language: string;
  sealed: Uint8Array;
  source: TranscriptRow['source'];
  engine: string | null;
  audioObjectKey: string | null;
  /** The search index's tokens of its words. */
  tokens: string[];
  /** Write only while the recording's original is this object (the audio the transcript was made from). */
  onlyFromOriginal?: string;
}

/**
 * Store a transcript and replace its index, in one transaction. It applies only while the recording
 * is live (and, with `onlyFromOriginal`, still names that original); an `automatic` write never
 * replaces a `service` one. True when it applied.
 */
export async function writeTranscript(db: Database, w: TranscriptWrite, at: string): Promise<boolean> {
  const d1 = db.$client;
  const original = w.onlyFromOriginal === undefined ? '' : ' and r.object_key = ?9';
  const serviceWins = w.source === 'automatic' ? " where transcripts.source = 'automatic'" : '';
  // Only the statement that wrote this row (its updated_at is ours) may replace the index.
  const ours = 'exists (select 1 from transcripts t where t.recording_id = ?1 and t.updated_at = ?2 and t.source = ?3)';
  await d1.batch([
    d1
      .prepare(
        `insert into transcripts (recording_id, user_id, language, text, segments, sealed, source, engine, audio_object_key, created_at, updated_at)
         select ?1, ?4, ?5, '', '[]', ?6, ?3, ?7, ?8, ?2, ?2 from recordings r where r.id = ?1 and r.deleted_at is null${original}
         on conflict (recording_id) do update set language = excluded.language, text = '', segments = '[]', sealed = excluded.sealed,
           source = excluded.source, engine = excluded.engine, audio_object_key = excluded.audio_object_key, updated_at = excluded.updated_at${serviceWins}`,
      )
      .bind(...bindings(w, at)),
    d1.prepare(`delete from transcript_terms where recording_id = ?1 and ${ours}`).bind(w.recordingId, at, w.source),
    d1.prepare(`insert into transcript_terms (token, recording_id) select value, ?1 from json_each(?4) where ${ours}`).bind(w.recordingId, at, w.source, JSON.stringify(w.tokens)),
  ]);
  const row = await db.select({ updatedAt: transcripts.updatedAt, source: transcripts.source }).from(transcripts).where(eq(transcripts.recordingId, w.recordingId)).get();
  return row?.updatedAt === at && row.source === w.source;
}

/** ?1 … ?8 of the upsert, then ?9: the original it must still name, when it must. */
function bindings(w: TranscriptWrite, at: string): unknown[] {
  const values: unknown[] = [w.recordingId, at, w.source, w.userId, w.language, w.sealed, w.engine, w.audioObjectKey];
  if (w.onlyFromOriginal !== undefined) values.push(w.onlyFromOriginal);
  return values;
}

/**
 * A redaction's transcript, committed in the redaction's own transaction (src/db/redactions.ts):
 * the transcript as it was read (its `updated_at`, null when there was none: the redaction applies
 * only if that is still so) and, when there is one, its new content sealed under the new data key.
 */
export interface TranscriptRewrite {
  readUpdatedAt: string | null;
  rewrite?: { language: string; sealed: Uint8Array; tokens: string[] };
}

/**
 * The statements that store `rewrite` and replace its index, each applying only while `applies`
 * (an SQL condition on the recording row `r`) holds; for one D1 batch.
 */
export function transcriptRewriteStatements(db: Database, recordingId: string, rewrite: NonNullable<TranscriptRewrite['rewrite']>, applies: SQL, at: string) {
  const whenApplies = sql`exists (select 1 from recordings r where r.id = ${recordingId} and ${applies})`;
  return [
    db
      .update(transcripts)
      .set({ language: rewrite.language, sealed: Buffer.from(rewrite.sealed), text: '', segments: [], updatedAt: at })
      .where(and(eq(transcripts.recordingId, recordingId), whenApplies)),
    db.delete(transcriptTerms).where(and(eq(transcriptTerms.recordingId, recordingId), whenApplies)),
    db.insert(transcriptTerms).select(
      db
        .select({ token: sql<string>`value`.as('token'), recordingId: sql<string>`${recordingId}`.as('recording_id') })
        .from(sql`json_each(${JSON.stringify(rewrite.tokens)})`)
        .where(whenApplies),
    ),
  ] as const;
}

/** An SQL condition: the recording's transcript is as it was read (`updated_at`, or still none). */
export function transcriptUnchanged(recordingId: string, readUpdatedAt: string | null): SQL {
  return sql`coalesce((select t.updated_at from transcripts t where t.recording_id = ${recordingId}), '') = ${readUpdatedAt ?? ''}`;
}
