/**
 * The one rule for whether a user's calls may be transcribed: their consent's `transcription` (a
 * user who never set consent has not refused). The PUT route, the job after processing and the
 * transcription job itself all ask here, so the three cannot drift apart.
 */
import type { Database } from '../db/client';
import { getConsent } from '../db/consents';

/** True when `userId`'s consent allows transcripts of their recordings, automatic or a service's. */
export async function mayTranscribe(db: Database, userId: string): Promise<boolean> {
  return (await getConsent(db, userId)).consents.transcription;
}
