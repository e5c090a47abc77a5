/** The contract's Recording JSON from a row (and its renditions). */
import type { Database } from '../db/client';
import { listRenditions, type RecordingRow, type RenditionRow } from '../db/recordings';
import type { RecordingJson } from '../domain/recording';

export function toRecordingJson(row: RecordingRow, renditions: RenditionRow[] = []): RecordingJson {
  return {
    id: row.id,
    callId: row.callId,
    userId: row.userId,
    callerPhone: row.callerPhone,
    receiverPhone: row.receiverPhone,
    startTime: row.startTime,
    endTime: row.endTime,
    durationMs: row.durationMs,
    format: row.format as RecordingJson['format'],
    contentType: row.contentType,
    size: row.size,
    status: row.status === 'deleted' ? 'failed' : row.status,
    failureReason: row.failureReason,
    storageTier: row.storageTier,
    legalHold: row.legalHold,
    pauses: row.pauses ?? [],
    gaps: row.gaps ?? [],
    redactions: row.redactions ?? [],
    renditions: renditions.map((r) => r.quality),
    createdAt: row.createdAt,
  };
}

/** The Recording JSON of `row` with the renditions stored so far (`GET /recordings/{id}` and the lifecycle routes). */
export async function describeRecording(db: Database, row: RecordingRow): Promise<RecordingJson> {
  return toRecordingJson(row, await listRenditions(db, row.id));
}
