/**
 * Whether a recording needs an automatic transcript now: what decides that a `transcribe` job is
 * queued (after processing, when a processing message is delivered again, after a restore) and
 * whether the job does anything. Plain D1 reads, so that compliance (the restore) can ask too
 * without reaching the engines.
 */
import type { Database } from '../db/client';
import type { RecordingRow } from '../db/recordings';
import { findTranscript } from '../db/transcripts';
import { inArchive } from '../domain/recording';
import { mayTranscribe } from './consent';

export type NotDue = 'not_ready' | 'no_consent' | 'service_transcript' | 'up_to_date' | 'archived';

/**
 * Why the recording needs no automatic transcript, or null when it does: it is `ready`, its owner
 * consents, no service transcript exists and no automatic one was made from its current original;
 * `archived` while it is in the archive (`inArchive`): the restore queues the work again.
 */
export async function transcriptionNotDue(db: Database, row: RecordingRow): Promise<NotDue | null> {
  if (row.status !== 'ready' || !row.objectKey) return 'not_ready';
  if (!(await mayTranscribe(db, row.userId))) return 'no_consent';
  const existing = await findTranscript(db, row.id);
  if (existing?.source === 'service') return 'service_transcript';
  if (existing?.source === 'automatic' && existing.audioObjectKey === row.objectKey && existing.sealed) return 'up_to_date';
  if (inArchive(row)) return 'archived';
  return null;
}
