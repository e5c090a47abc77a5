/** Consent queries. A user with no row has given no refusal: recording and transcription default to allowed. */
import { eq } from 'drizzle-orm';
import type { Database } from './client';
import { consents } from './schema';

export interface ConsentState {
  userId: string;
  consents: { recording: boolean; transcription: boolean };
  updatedAt: string | null;
}

export async function getConsent(db: Database, userId: string): Promise<ConsentState> {
  const [row] = await db.select().from(consents).where(eq(consents.userId, userId)).limit(1);
  return {
    userId,
    consents: { recording: row?.recording ?? true, transcription: row?.transcription ?? true },
    updatedAt: row?.updatedAt ?? null,
  };
}

export async function putConsent(db: Database, userId: string, value: { recording: boolean; transcription: boolean }): Promise<ConsentState> {
  const updatedAt = new Date().toISOString();
  await db
    .insert(consents)
    .values({ userId, ...value, updatedAt })
    .onConflictDoUpdate({ target: consents.userId, set: { ...value, updatedAt } });
  return { userId, consents: value, updatedAt };
}
