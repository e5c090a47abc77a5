/**
 * GDPR for one data subject: the export of everything held about them, and erasure with a report
 * that checks its own work and says plainly what outlives it.
 *
 * Erasure order, each step idempotent so that a request cut off anywhere is finished by running it
 * again: (1) every live recording not on legal hold becomes a tombstone in one statement (a hold
 * needs a live row, so holds and erasure cannot both win); (2) if nothing is retained, the user's
 * key secrets are destroyed *before* any object is touched, so whatever a failure leaves behind is
 * already unreadable; (3) each tombstone's objects (original, renditions, unredacted originals a
 * redaction kept, strays under its prefix) are deleted and checked gone with `head`, then its rows
 * (renditions, transcript, grants, redaction originals) go; (4) the user's other transcripts, the
 * grants they hold and their consent row go. `eraseSubjectOnRequest` is that erasure as the
 * endpoint asks for it: audited, and announced as the `gdpr.erased` webhook.
 */
import type { Config } from '../config';
import type { Database } from '../db/client';
import { KeyUnavailable, destroyUserKeys } from '../crypto/keys';
import {
  auditEventsAbout,
  deleteConsent,
  deleteTranscriptsOf,
  heldRecordingsOf,
  keyVersionsOf,
  liveKeySecrets,
  liveRecordingsOf,
  remainingOf,
  tombstonesOf,
  tombstoneUnheldRecordingsOf,
  transcriptsOf,
  type AuditEventRow,
  type TranscriptRow,
} from '../db/gdpr';
import { getConsent, type ConsentState } from '../db/consents';
import { grantsHeldBy, grantsOnRecordingsOf, revokeGrantsHeldBy, type Grant } from '../db/permissions';
import { findRecording, type RecordingRow } from '../db/recordings';
import { findRetainedTranscriptRecording } from '../db/transcripts';
import { describeError } from '../observability/logger';
import { announceChange, type ChangeRequestDeps } from './change-request';
import { destroyUnheldOriginals } from './legal-hold';
import { deleteRecording } from '../recordings/delete';
import { describeRecording } from '../recordings/json';
import { signPlaybackUrl } from '../recordings/playback-url';
import { objectPrefixFor } from '../storage/object-keys';
import { inArchive, type RecordingJson } from '../domain/recording';
import type { BlobStore } from '../storage/blob-store';
import { publicSegments } from '../transcripts/content';
import { readTranscript, type TranscriptDeps } from '../transcripts/store';

/** Download links in an export work without credentials for a day. */
export const EXPORT_URL_TTL_SECONDS = 86_400;
const DAY_MS = 86_400_000;
const PAGE = 200;
const ERASE_CONCURRENCY = 8;

export interface ExportedRecording extends RecordingJson {
  /** A signed URL of the original audio, or null with the reason in `downloadUnavailable`. */
  downloadUrl: string | null;
  downloadUrlExpiresAt: string | null;
  downloadUnavailable: 'archived' | 'no_audio' | null;
}

export interface SubjectExport {
  userId: string;
  exportedAt: string;
  consent: ConsentState;
  recordings: ExportedRecording[];
  /** Recordings whose audio is gone but whose row remains: retention keeps an anonymized tombstone. */
  deletedRecordings: { id: string; callId: string; callerPhone: string | null; receiverPhone: string | null; startTime: string; endTime: string | null; createdAt: string; deletedAt: string }[];
  transcripts: { recordingId: string; language: string; text: string; segments: { start: number; end: number; speaker: string | null; text: string }[]; createdAt: string; updatedAt: string }[];
  auditEvents: AuditEventRow[];
  permissions: {
    /** Who else may read the subject's recordings. */
    grantedToOthers: Grant[];
    /** Recordings of other people the subject may read. */
    grantedToSubject: (Grant & { ownerUserId: string })[];
  };
  /** The subject's encryption key versions (never any key material). */
  encryptionKeys: { version: number; createdAt: string; retiredAt: string | null; destroyedAt: string | null }[];
}

/** Everything held about `userId`, with signed download URLs rooted at `baseUrl`. */
export async function exportSubject(deps: { db: Database; config: Pick<Config, 'MASTER_ENCRYPTION_KEY'> }, userId: string, baseUrl: string, now = new Date()): Promise<SubjectExport> {
  const { db, config } = deps;
  const recordings: ExportedRecording[] = [];
  for (let after: string | null = null; ; ) {
    const page: RecordingRow[] = await liveRecordingsOf(db, userId, after, PAGE);
    for (const row of page) recordings.push(await exportRecording(db, config.MASTER_ENCRYPTION_KEY, baseUrl, row, now));
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.id;
  }
  const deletedRecordings: SubjectExport['deletedRecordings'] = [];
  for (let after: string | null = null; ; ) {
    const page: RecordingRow[] = await tombstonesOf(db, userId, PAGE, after);
    for (const { id, callId, callerPhone, receiverPhone, startTime, endTime, createdAt, deletedAt } of page) {
      deletedRecordings.push({ id, callId, callerPhone, receiverPhone, startTime, endTime, createdAt, deletedAt: deletedAt! });
    }
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.id;
  }
  const auditEvents: AuditEventRow[] = [];
  for (let after: { at: string; id: string } | null = null; ; ) {
    const page: AuditEventRow[] = await auditEventsAbout(db, userId, after, 1000);
    auditEvents.push(...page);
    if (page.length < 1000) break;
    after = page[page.length - 1]!;
  }
  const [consent, transcripts, grantedToOthers, grantedToSubject, encryptionKeys] = await Promise.all([
    getConsent(db, userId),
    transcriptsOf(db, userId),
    grantsOnRecordingsOf(db, userId),
    grantsHeldBy(db, userId),
    keyVersionsOf(db, userId),
  ]);
  return {
    userId,
    exportedAt: now.toISOString(),
    consent,
    recordings,
    deletedRecordings,
    transcripts: await Promise.all(transcripts.map((row) => exportTranscript(deps, row))),
    auditEvents,
    permissions: { grantedToOthers, grantedToSubject },
    encryptionKeys,
  };
}

/** The transcript opened with its recording's key (kept after audio retention for it); words are gone once that key is destroyed. */
async function exportTranscript(deps: TranscriptDeps, row: TranscriptRow): Promise<SubjectExport['transcripts'][number]> {
  const recording = (await findRecording(deps.db, row.recordingId)) ?? (await findRetainedTranscriptRecording(deps.db, row.recordingId));
  const opened = recording ? await readTranscript(deps, recording).catch((error: unknown) => (error instanceof KeyUnavailable ? null : Promise.reject(error))) : null;
  return { recordingId: row.recordingId, language: row.language, text: opened?.text ?? '', segments: publicSegments(opened?.segments ?? []), createdAt: row.createdAt, updatedAt: row.updatedAt };
}

async function exportRecording(db: Database, masterKey: string, baseUrl: string, row: RecordingRow, now: Date): Promise<ExportedRecording> {
  const json = await describeRecording(db, row);
  const unavailable = !row.objectKey ? 'no_audio' : inArchive(row) ? 'archived' : null;
  if (unavailable) return { ...json, downloadUrl: null, downloadUrlExpiresAt: null, downloadUnavailable: unavailable };
  const signed = await signPlaybackUrl(masterKey, baseUrl, row.id, 'original', EXPORT_URL_TTL_SECONDS, { id: row.userId, role: 'user' }, now.getTime());
  return { ...json, downloadUrl: signed.url, downloadUrlExpiresAt: signed.expiresAt, downloadUnavailable: null };
}

export interface ErasureReport {
  userId: string;
  erasedAt: string;
  deletedRecordings: string[];
  retainedRecordings: { id: string; reason: 'legal_hold' }[];
  verification: {
    /** Every object erasure deleted, each checked absent with a `head` afterwards. */
    objects: { recordingId: string; key: string; goneFromStorage: boolean }[];
    allObjectsGone: boolean;
    /** No secret of any key version of the user is left: nothing they recorded can be decrypted again. */
    keyDestroyed: boolean;
    keyVersionsDestroyed: number;
    /** Why the key was kept: retained recordings must stay readable. */
    keyRetainedReason: 'legal_hold' | null;
    transcriptsDeleted: number;
    grantsRevoked: number;
    consentDeleted: boolean;
    /** Rows of the user left outside the retained recordings, counted after the erasure: all zero. */
    remaining: { recordings: number; transcripts: number; grantsHeld: number; consent: boolean };
  };
  /** What this erasure cannot reach, and until when it lasts (null: as long as that record is kept). */
  outlives: { what: string; until: string | null; detail: string }[];
}

/** Erase `userId`: see the module header for the order and why. */
export async function eraseSubject(deps: { db: Database; store: BlobStore }, userId: string, now = new Date()): Promise<ErasureReport> {
  const { db, store } = deps;
  await tombstoneUnheldRecordingsOf(db, userId, now);
  const held = await heldRecordingsOf(db, userId);
  const keep = held.map((r) => r.id);
  const keyVersionsDestroyed = held.length === 0 ? (await destroyUserKeys(db, userId)).versions : 0;
  const before = await remainingOf(db, userId, keep);

  const deleted: string[] = [];
  const seen = new Set<string>();
  const objects: ErasureReport['verification']['objects'] = [];
  for (;;) {
    const batch = await tombstonesOf(db, userId, ERASE_CONCURRENCY * 4);
    if (batch.length === 0) break;
    if (batch.some((row) => seen.has(row.id))) throw new Error(`erasure of ${userId}: a recording row survived its deletion`);
    for (let i = 0; i < batch.length; i += ERASE_CONCURRENCY) {
      const reports = await Promise.all(batch.slice(i, i + ERASE_CONCURRENCY).map((row) => eraseRecording(store, db, row)));
      for (const report of reports) {
        deleted.push(report.recordingId);
        seen.add(report.recordingId);
        objects.push(...report.objects.map((o) => ({ recordingId: report.recordingId, ...o })));
      }
    }
  }

  await deleteTranscriptsOf(db, userId, keep);
  const grantsRevoked = await revokeGrantsHeldBy(db, userId);
  const consentDeleted = await deleteConsent(db, userId);
  const [liveSecrets, remaining] = await Promise.all([liveKeySecrets(db, userId), remainingOf(db, userId, keep)]);
  return {
    userId,
    erasedAt: now.toISOString(),
    deletedRecordings: deleted,
    retainedRecordings: held.map((r) => ({ id: r.id, reason: 'legal_hold' as const })),
    verification: {
      objects,
      allObjectsGone: objects.every((o) => o.goneFromStorage),
      keyDestroyed: liveSecrets === 0,
      keyVersionsDestroyed,
      keyRetainedReason: held.length > 0 ? 'legal_hold' : null,
      // Transcripts go with their recording's rows, and any left over of the user's afterwards.
      transcriptsDeleted: before.transcripts - remaining.transcripts,
      grantsRevoked,
      consentDeleted,
      remaining,
    },
    outlives: outlivingCopies(now, store.provider, held.length > 0),
  };
}

/**
 * One tombstone: the unredacted originals a redaction kept (objects and rows), then a sweep of its
 * storage prefix for strays (a rendition written by a job that raced the deletion), then the very
 * deletion DELETE runs, which deletes the original and renditions, checks each is gone and removes
 * the rows. Every key is checked absent with `head` before the report says so.
 */
async function eraseRecording(store: BlobStore, db: Database, row: RecordingRow) {
  const originals = await destroyUnheldOriginals({ db, store }, row.id);
  const prefix = objectPrefixFor(row.id);
  const strays: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list(prefix, cursor);
    strays.push(...page.keys);
    cursor = page.cursor;
  } while (cursor);
  await Promise.all(strays.map((key) => store.delete(key)));
  const report = await deleteRecording({ db, store }, row);
  const known = new Set(report.objects.map((o) => o.key));
  const others = [...new Set([...originals, ...strays])].filter((key) => !known.has(key));
  const checked = await Promise.all(others.map(async (key) => ({ key, goneFromStorage: (await store.head(key)) === null })));
  if (checked.some((o) => !o.goneFromStorage)) throw new Error(`storage still holds an object of ${row.id} after erasure`);
  return { recordingId: row.id, objects: [...report.objects, ...checked] };
}

/** Audit details name at most this many recording ids; the count is always there. */
const AUDITED_IDS = 500;

export type ErasureRequestDeps = ChangeRequestDeps;

/**
 * `DELETE /gdpr/data`: erase `userId` (`eraseSubject`), audited as `gdpr.erased` (a failure too,
 * marked resumable: running it again finishes it), then announced as the `gdpr.erased` webhook.
 */
export async function eraseSubjectOnRequest(deps: ErasureRequestDeps, userId: string): Promise<ErasureReport> {
  let report: ErasureReport;
  try {
    report = await eraseSubject(deps, userId);
  } catch (error) {
    await deps.audit({ action: 'gdpr.erased', outcome: 'failure', subjectUserId: userId, details: { ...describeError(error), resumable: true } });
    throw error;
  }
  const v = report.verification;
  await deps.audit({
    action: 'gdpr.erased',
    outcome: 'success',
    subjectUserId: userId,
    details: {
      deleted: report.deletedRecordings.length,
      deletedIds: report.deletedRecordings.slice(0, AUDITED_IDS),
      retained: report.retainedRecordings,
      objectsDeleted: v.objects.length,
      allObjectsGone: v.allObjectsGone,
      keyDestroyed: v.keyDestroyed,
      keyRetainedReason: v.keyRetainedReason,
      transcriptsDeleted: v.transcriptsDeleted,
      grantsRevoked: v.grantsRevoked,
      consentDeleted: v.consentDeleted,
    },
  });
  await announceChange(deps, 'gdpr.erased', {
    userId,
    erasedAt: report.erasedAt,
    deletedRecordings: report.deletedRecordings,
    retainedRecordings: report.retainedRecordings,
    keyDestroyed: v.keyDestroyed,
  });
  return report;
}

function outlivingCopies(now: Date, provider: BlobStore['provider'], keyKept: boolean): ErasureReport['outlives'] {
  const after = (ms: number) => new Date(now.getTime() + ms).toISOString();
  const copies: ErasureReport['outlives'] = [
    {
      what: 'D1 Time Travel',
      until: after(30 * DAY_MS),
      detail:
        'The database keeps 30 days of history for point-in-time restore: a restore to before this erasure would bring back the deleted rows (recording metadata, transcripts, grants, consent, wrapped keys). It cannot bring back audio: the objects are deleted from storage, not from D1.',
    },
    {
      what: 'Durable Object point-in-time recovery',
      until: after(30 * DAY_MS),
      detail: keyKept
        ? "Live-call objects keep 30 days of storage history. Every byte of audio they ever held (frames waiting for their 16 KiB chunk, chunks that arrived early, sealed chunks before upload) was stored sealed with AES-256-GCM under keys derived from each recording's data key; the user key that unwraps those data keys is kept for the recordings on legal hold, so until then that history stays readable with it."
        : "Live-call objects keep 30 days of storage history. Every byte of audio they ever held (frames waiting for their 16 KiB chunk, chunks that arrived early, sealed chunks before upload) was stored sealed with AES-256-GCM under keys derived from each recording's data key, which nothing can unwrap any more: the user key that wrapped them is destroyed, so that history cannot be opened.",
    },
    {
      what: 'Audit log',
      until: null,
      detail:
        'Audit events keep this user id (as actor or subject) and the recording ids: they are the legal record of who did what, and each event is hash-chained, so changing them would make the chain unverifiable. They hold no audio, transcript text or phone numbers. Audit rows are never deleted by retention.',
    },
    {
      what: 'Key records',
      until: null,
      detail: keyKept
        ? 'The user key is kept, with its secret, because recordings on legal hold still need it; it is destroyed by erasing again once the holds are released.'
        : 'The user_keys rows keep only version numbers and timestamps; every secret is destroyed (NULL).',
    },
    {
      what: 'Application logs',
      until: after(7 * DAY_MS),
      detail: 'Workers Logs may hold request paths (recording ids) and user ids for their retention period (3 days on the Free plan, 7 on Paid).',
    },
    {
      what: 'Webhook receivers',
      until: null,
      detail: 'Events already delivered to WEBHOOK_URL are outside this service; a gdpr.erased event is sent so that receivers can erase their copies.',
    },
    {
      what: 'A live call in progress',
      until: null,
      detail: keyKept
        ? 'A live call still running for this user: its recording row is erased now and the call object discards its audio when the call ends (the finished object is deleted, not kept).'
        : 'A live call still running for this user: its recording row is erased now, and the call keeps nothing: when it ends its finished object is deleted (the row is gone), and once the call object has been evicted its stored audio cannot be opened at all (the user key is destroyed), so the call ends at its next frame. A call started after this erasure is a new recording under a new key.',
    },
  ];
  if (provider !== 'r2') {
    copies.push({
      what: `${provider === 's3' ? 'S3 versioning' : 'Azure soft delete and versioning'}`,
      until: null,
      detail: 'If the bucket or container keeps previous versions or soft-deleted blobs, those copies last as long as its own policy says; they are ciphertext under keys erasure destroyed.',
    });
  }
  return copies;
}
