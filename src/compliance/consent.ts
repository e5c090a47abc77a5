/**
 * A user's consent as the GDPR endpoints read and change it. What it allows is decided elsewhere:
 * recording by `assertMayRecord` (src/auth/permissions.ts), transcription in src/transcripts/.
 */
import type { Database } from '../db/client';
import { getConsent, putConsent, type ConsentState } from '../db/consents';

/** `userId`'s consent; a user who never set it has refused nothing. */
export function readConsent(db: Database, userId: string): Promise<ConsentState> {
  return getConsent(db, userId);
}

/** Set `userId`'s consent; the state before and after, for the audit log. */
export async function changeConsent(db: Database, userId: string, value: ConsentState['consents']): Promise<{ before: ConsentState; after: ConsentState }> {
  const before = await getConsent(db, userId);
  return { before, after: await putConsent(db, userId, value) };
}
