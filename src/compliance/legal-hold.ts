/**
 * Legal hold: while a recording is held nothing deletes it (DELETE answers 409 `legal_hold`,
 * retention and GDPR erasure pass it over). Each hold is a history row in `legal_holds`, who placed
 * it, when and why, and who released it and when; the `legalHold` flag on the recording is what
 * every deletion path checks. Flag and history change together in one D1 transaction, and only
 * from a live row, so a hold and a deletion racing each other cannot both win. A hold also keeps
 * the unredacted originals of redactions (media/redact.ts); releasing it destroys them.
 */
import type { Database } from '../db/client';
import { closeLegalHold, insertLegalHold, listLegalHolds, type LegalHoldRow } from '../db/lifecycle';
import { findRecording, type RecordingRow } from '../db/recordings';
import { forgetUnheldOriginals } from '../db/redactions';
import { notFound } from '../errors';
import type { BlobStore } from '../storage/blob-store';

export interface LegalHoldChange {
  row: RecordingRow;
  /** False when the recording already was in the state asked for (the call changed nothing). */
  changed: boolean;
}

async function current(db: Database, id: string): Promise<RecordingRow> {
  const row = await findRecording(db, id);
  if (!row) throw notFound();
  return row;
}

/** Place a hold. On a held recording this changes nothing: the open hold and its reason stay. */
export async function placeLegalHold(db: Database, recordingId: string, by: string, reason: string | null, now: Date): Promise<LegalHoldChange> {
  const changed = await insertLegalHold(db, { id: crypto.randomUUID(), recordingId, reason, placedBy: by, placedAt: now.toISOString() });
  return { row: await current(db, recordingId), changed };
}

/**
 * Release the hold. On a recording not held this changes nothing. What the hold alone kept is
 * destroyed now: the unredacted originals of redactions made while it was held.
 */
export async function releaseLegalHold(deps: { db: Database; store: BlobStore }, recordingId: string, by: string, now: Date): Promise<LegalHoldChange> {
  const changed = await closeLegalHold(deps.db, recordingId, by, now.toISOString());
  if (changed) await destroyUnheldOriginals(deps, recordingId);
  return { row: await current(deps.db, recordingId), changed };
}

/**
 * Destroy every unredacted original kept for `recordingId` unless the recording is on legal hold
 * at the instant its rows are forgotten (a concurrent hold wins: then nothing is touched); returns
 * the keys destroyed. The rows, and any data key kept with them, go first, so an object whose
 * delete fails is a stray nothing can open, which retention's and erasure's prefix sweeps remove.
 * Also what follows a released hold, and what every deletion runs before it purges the row.
 */
export async function destroyUnheldOriginals(deps: { db: Database; store: BlobStore }, recordingId: string): Promise<string[]> {
  const forgotten = await forgetUnheldOriginals(deps.db, recordingId);
  await Promise.all(forgotten.map((key) => deps.store.delete(key)));
  for (const key of forgotten) {
    if ((await deps.store.head(key)) !== null) throw new Error(`storage still holds the unredacted original ${key} after delete`);
  }
  return forgotten;
}

export interface LegalHoldEntry {
  reason: string | null;
  placedBy: string;
  placedAt: string;
  releasedBy: string | null;
  releasedAt: string | null;
}

/** Every hold placed on the recording, newest first. */
export async function legalHoldHistory(db: Database, recordingId: string): Promise<LegalHoldEntry[]> {
  return (await listLegalHolds(db, recordingId)).map((h: LegalHoldRow) => ({
    reason: h.reason,
    placedBy: h.placedBy,
    placedAt: h.placedAt,
    releasedBy: h.releasedBy,
    releasedAt: h.releasedAt,
  }));
}
