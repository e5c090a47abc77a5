/**
 * Creating a Recording, one path for uploads and live calls (both first ask `assertMayRecord` of
 * src/auth/permissions.ts): the row (`recordingRow`), and the commit (`commitRecording`): the row
 * becomes `processing` with its object, `recording.create` goes to the audit log,
 * `recording.completed` to the webhooks and the job to the media queue. Plain values in, no HTTP and no Durable Object here:
 * `routes/recordings.ts` (through upload.ts) and `live/call-recorder.ts` call the same functions.
 */
import type { AuditInput } from '../compliance/audit-log';
import { emitEvent } from '../compliance/webhooks';
import type { Config } from '../config';
import type { Database } from '../db/client';
import { finishLiveRecording } from '../db/live-recordings';
import { insertRecording, type RecordingRow } from '../db/recordings';
import { CONTENT_TYPES, type AudioFormat } from '../domain/audio-format';
import { enqueueProcessing } from '../domain/media-jobs';

/** What a new Recording is made of; the rest of the row is the same for every source. */
export interface RecordingDraft {
  id: string;
  callId: string;
  userId: string;
  callerPhone: string | null;
  receiverPhone: string | null;
  startTime: string;
  endTime: string | null;
  format: AudioFormat;
  size: number;
  status: 'recording' | 'processing';
  /** The sealed object, once it is complete (null for a live call while it is recorded). */
  object: SealedObjectRef | null;
  createdAt: string;
}

export interface SealedObjectRef {
  objectKey: string;
  ciphertextSize: number;
  wrappedDataKey: Uint8Array;
  keyVersion: number;
}

/** The full row of a new Recording: hot, not held, nothing redacted, times as ISO strings. */
export function recordingRow(draft: RecordingDraft): RecordingRow {
  return {
    id: draft.id,
    callId: draft.callId,
    userId: draft.userId,
    callerPhone: draft.callerPhone,
    receiverPhone: draft.receiverPhone,
    startTime: new Date(draft.startTime).toISOString(),
    endTime: draft.endTime === null ? null : new Date(draft.endTime).toISOString(),
    durationMs: null,
    format: draft.format,
    contentType: CONTENT_TYPES[draft.format],
    size: draft.size,
    status: draft.status,
    failureReason: null,
    storageTier: 'hot',
    pendingTier: null,
    legalHold: false,
    objectKey: draft.object?.objectKey ?? null,
    ciphertextSize: draft.object?.ciphertextSize ?? null,
    wrappedDataKey: (draft.object?.wrappedDataKey ?? null) as RecordingRow['wrappedDataKey'],
    keyVersion: draft.object?.keyVersion ?? null,
    pauses: null,
    gaps: null,
    redactions: null,
    createdAt: draft.createdAt,
    updatedAt: draft.createdAt,
    deletedAt: null,
  };
}

export interface CommitDeps {
  db: Database;
  config: Pick<Config, 'WEBHOOK_URL'>;
  mediaQueue: Queue;
  webhookQueue: Queue;
  /** Where this caller's audit events go (the request's events, or the call object's). */
  audit: (event: Omit<AuditInput, 'actor' | 'actorRole' | 'requestId'>) => Promise<void>;
}

/** An upload: the whole row, written now. A live call: its `recording` row, completed with what the call produced. */
export type Commit =
  | {
      source: 'upload';
      row: RecordingRow;
      /** Removes the sealed object when the row cannot be written (nothing may stay without its row). */
      abandon: () => Promise<void>;
    }
  | {
      source: 'live';
      recordingId: string;
      callId: string;
      userId: string;
      endTime: string;
      size: number;
      object: SealedObjectRef;
      pauses: RecordingRow['pauses'];
      gaps: RecordingRow['gaps'];
      details: Record<string, unknown>;
    };

export interface Committed {
  recordingId: string;
  userId: string;
  callId: string;
  size: number;
}

/**
 * Make the Recording real: `processing`, audited, announced, queued. Resolves to null when a live
 * call's row was deleted or erased while it was recorded (the caller removes its object).
 * An upload whose row cannot be written abandons its object and throws. Once the row is written,
 * a failure after it (audit, webhook or queue unavailable) leaves row and object in place and
 * throws: the Recording exists and is downloadable, never half-deleted.
 */
export async function commitRecording(deps: CommitDeps, commit: Commit): Promise<Committed | null> {
  let committed: Committed;
  let details: Record<string, unknown>;
  if (commit.source === 'upload') {
    const { row } = commit;
    try {
      await insertRecording(deps.db, row);
    } catch (error) {
      await commit.abandon().catch(() => undefined);
      throw error;
    }
    committed = { recordingId: row.id, userId: row.userId, callId: row.callId, size: row.size };
    details = { size: row.size, format: row.format };
  } else {
    const outcome = await finishLiveRecording(deps.db, commit.recordingId, {
      endTime: commit.endTime,
      size: commit.size,
      ...commit.object,
      wrappedDataKey: commit.object.wrappedDataKey as RecordingRow['wrappedDataKey'],
      pauses: commit.pauses,
      gaps: commit.gaps,
    });
    if (outcome === 'gone') return null;
    committed = { recordingId: commit.recordingId, userId: commit.userId, callId: commit.callId, size: commit.size };
    details = { live: true, ...commit.details, size: commit.size };
  }
  await deps.audit({ action: 'recording.create', recordingId: committed.recordingId, subjectUserId: committed.userId, outcome: 'success', details });
  await emitEvent({ queue: deps.webhookQueue, config: deps.config }, 'recording.completed', { ...committed, source: commit.source });
  await enqueueProcessing(deps.mediaQueue, committed.recordingId);
  return committed;
}
