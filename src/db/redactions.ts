/** Redaction queries: swapping a recording onto its redacted original, and forgetting unredacted originals. No HTTP here. */
import { and, eq, exists, isNull, ne, notInArray, sql } from 'drizzle-orm';
import type { Database } from './client';
import type { RecordingRow } from './recordings';
import { recordings, redactionOriginals, renditions } from './schema';
import { transcriptRewriteStatements, transcriptUnchanged, type TranscriptRewrite } from './transcripts';

export type Redaction = NonNullable<RecordingRow['redactions']>[number];

export interface RedactedOriginal {
  objectKey: string;
  size: number;
  ciphertextSize: number;
  /** The new data key the redacted audio is sealed under, wrapped by the owner's key of `keyVersion`. */
  wrappedDataKey: Uint8Array;
  keyVersion: number;
}

/**
 * One D1 transaction: the recording names the redacted object and its new data key, the
 * redaction is appended, it turns `processing`, its rendition rows go, its transcript (already
 * without the span's words, sealed under the new key) and the transcript's index are replaced, and
 * the superseded object is recorded in `redaction_originals` with its old data key only if the
 * recording is on legal hold at this very instant (otherwise that key exists nowhere any more).
 * Applies only if the recording still names the object `row` named and its transcript is still the
 * one that was read; null when not (nothing was written). So no transcript is ever left sealed
 * under a destroyed key, nor an index that still finds the redacted words.
 */
export async function swapRedactedOriginal(
  db: Database,
  row: RecordingRow,
  supersededCiphertextSize: number,
  redacted: RedactedOriginal,
  redactions: Redaction[],
  transcript: TranscriptRewrite,
  at: string,
): Promise<RecordingRow | null> {
  const untouched = and(
    eq(recordings.id, row.id),
    eq(recordings.objectKey, row.objectKey!),
    isNull(recordings.deletedAt),
    notInArray(recordings.status, ['recording', 'processing']),
    ne(recordings.storageTier, 'archive'),
    isNull(recordings.pendingTier),
    transcriptUnchanged(row.id, transcript.readUpdatedAt),
  );
  // The statements after the update hold only if it applied: the recording then names the new object.
  const swapped = and(eq(recordings.id, row.id), eq(recordings.objectKey, redacted.objectKey));
  const oldKey = row.wrappedDataKey ? Buffer.from(row.wrappedDataKey) : null;
  const [updated] = await db.batch([
    db
      .update(recordings)
      .set({
        objectKey: redacted.objectKey,
        size: redacted.size,
        ciphertextSize: redacted.ciphertextSize,
        wrappedDataKey: Buffer.from(redacted.wrappedDataKey),
        keyVersion: redacted.keyVersion,
        redactions,
        status: 'processing',
        failureReason: null,
        updatedAt: at,
      })
      .where(untouched)
      .returning(),
    db.insert(redactionOriginals).select(
      db
        .select({
          objectKey: sql<string>`${row.objectKey}`.as('object_key'),
          recordingId: recordings.id,
          size: sql<number>`${row.size}`.as('size'),
          ciphertextSize: sql<number>`${supersededCiphertextSize}`.as('ciphertext_size'),
          contentType: sql<string>`${row.contentType}`.as('content_type'),
          redaction: sql<number>`${redactions.length}`.as('redaction'),
          // The old data key survives only under a hold; else it is not written anywhere.
          wrappedDataKey: sql<Buffer | null>`case when ${recordings.legalHold} = 1 then ${oldKey} else null end`.as('wrapped_data_key'),
          keyVersion: sql<number | null>`case when ${recordings.legalHold} = 1 then ${row.keyVersion} else null end`.as('key_version'),
          createdAt: sql<string>`${at}`.as('created_at'),
        })
        .from(recordings)
        .where(swapped),
    ),
    db.delete(renditions).where(and(eq(renditions.recordingId, row.id), exists(db.select({ one: sql`1` }).from(recordings).where(swapped)))),
    ...(transcript.rewrite ? transcriptRewriteStatements(db, row.id, transcript.rewrite, sql`r.object_key = ${redacted.objectKey}`, at) : []),
  ]);
  return updated[0] ?? null;
}

/**
 * Forget every unredacted original of the recording, with any data key kept for it, in one
 * statement that applies only if the recording is not on legal hold at that instant (a hold placed
 * a moment earlier wins and keeps them all). Returns the object keys forgotten, which the caller
 * must now delete from storage.
 */
export async function forgetUnheldOriginals(db: Database, recordingId: string): Promise<string[]> {
  const held = sql`exists (select 1 from recordings r where r.id = ${recordingId} and r.legal_hold = 1)`;
  const forgotten = await db
    .delete(redactionOriginals)
    .where(and(eq(redactionOriginals.recordingId, recordingId), sql`not ${held}`))
    .returning({ objectKey: redactionOriginals.objectKey });
  return forgotten.map((row) => row.objectKey);
}
