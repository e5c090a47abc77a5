/** Transcript queries: one transcript per recording. */
import { eq } from 'drizzle-orm';
import type { Database } from '../context';
import { transcripts } from './schema';

export type TranscriptRow = typeof transcripts.$inferSelect;

export function findTranscript(db: Database, recordingId: string): Promise<TranscriptRow | undefined> {
  return db.select().from(transcripts).where(eq(transcripts.recordingId, recordingId)).get();
}

export async function putTranscript(db: Database, row: Omit<TranscriptRow, 'createdAt' | 'updatedAt'>): Promise<TranscriptRow> {
  const now = new Date().toISOString();
  const { recordingId, ...rest } = row;
  await db
    .insert(transcripts)
    .values({ ...row, createdAt: now, updatedAt: now })
    .onConflictDoUpdate({ target: transcripts.recordingId, set: { ...rest, updatedAt: now } });
  return (await findTranscript(db, recordingId))!;
}
