/** Transcript queries: one sealed transcript per recording and its keyed-hash word index. */
import { eq } from 'drizzle-orm';
import type { Database } from './client';
import { transcripts } from './schema';

export type TranscriptRow = typeof transcripts.$inferSelect;

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
