/**
 * Legal hold: while a recording is held nothing deletes it (DELETE answers 409 `legal_hold`,
 * retention and GDPR erasure pass it over). Each hold is a history row in `legal_holds`, who placed
 * it, when and why, and who released it and when; the `legalHold` flag on the recording is what
 * every deletion path checks. Flag and history change together in one D1 transaction, and only
 * from a live row, so a hold and a deletion racing each other cannot both win. A hold also keeps
 * the unredacted originals of redactions (media/redact.ts); releasing it destroys them. Placing or
 * releasing a hold is audited, and a change is announced as the `recording.legal_hold` webhook.
 */
import type { Database } from '../db/client';
import { closeLegalHold, insertLegalHold, listLegalHolds, type LegalHoldRow } from '../db/lifecycle';
import { findRecording, type RecordingRow } from '../db/recordings';
import { forgetUnheldOriginals } from '../db/redactions';
import { notFound } from '../errors';
import type { BlobStore } from '../storage/blob-store';
import { announceChange, type ChangeRequestDeps } from './change-request';

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

export type LegalHoldDeps = ChangeRequestDeps;

/** Who acts, and on which recording (its owner is the audit event's subject). */
export interface HoldRequest {
  recording: Pick<RecordingRow, 'id' | 'userId'>;
  by: string;
  now: Date;
}

/**
 * Place a hold, audited as `recording.legal_hold`. On a held recording this changes nothing: the
 * open hold and its reason stay, and no webhook is sent.
 */
export async function placeLegalHold(deps: LegalHoldDeps, { recording, by, now }: HoldRequest, reason: string | null): Promise<LegalHoldChange> {
  const changed = await insertLegalHold(deps.db, { id: crypto.randomUUID(), recordingId: recording.id, reason, placedBy: by, placedAt: now.toISOString() });
  const change = { row: await current(deps.db, recording.id), changed };
  await deps.audit({ action: 'recording.legal_hold', recordingId: recording.id, subjectUserId: recording.userId, outcome: 'success', details: { reason, changed } });
  if (changed) await announceChange(deps, 'recording.legal_hold', { recordingId: change.row.id, userId: change.row.userId, legalHold: change.row.legalHold, reason, by });
  return change;
}

/**
 * Release the hold, audited as `recording.legal_hold_release`. On a recording not held this
 * changes nothing. What the hold alone kept is destroyed now: the unredacted originals of
 * redactions made while it was held.
 */
export async function releaseLegalHold(deps: LegalHoldDeps, { recording, by, now }: HoldRequest): Promise<LegalHoldChange> {
  const changed = await closeLegalHold(deps.db, recording.id, by, now.toISOString());
  if (changed) await destroyUnheldOriginals(deps, recording.id);
  const change = { row: await current(deps.db, recording.id), changed };
  await deps.audit({ action: 'recording.legal_hold_release', recordingId: recording.id, subjectUserId: recording.userId, outcome: 'success', details: { changed } });
  if (changed) await announceChange(deps, 'recording.legal_hold', { recordingId: change.row.id, userId: change.row.userId, legalHold: change.row.legalHold, reason: null, by });
  return change;
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
