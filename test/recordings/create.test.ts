/**
 * The one creation path (src/recordings/create.ts) on plain values: what a commit leaves behind
 * when D1 refuses the row or a live call's row went away meanwhile (who may record:
 * test/auth/permissions.test.ts). The HTTP upload and the live protocols call these same functions
 * (test/recordings/upload.test.ts, test/live/*, test/node/live-e2e.test.ts go through the wire).
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { AuditInput } from '../../src/compliance/audit-log';
import { getConfig } from '../../src/config';
import { createDb } from '../../src/context';
import { insertLiveRecording } from '../../src/db/live-recordings';
import { findRecording, newRecordingId } from '../../src/db/recordings';
import { commitRecording, recordingRow, type CommitDeps, type RecordingDraft } from '../../src/recordings/create';

const db = createDb(env.DB);
const config = getConfig(env);

function collectingDeps(): { deps: CommitDeps; audited: Omit<AuditInput, 'actor' | 'actorRole' | 'requestId'>[]; jobs: unknown[] } {
  const audited: Omit<AuditInput, 'actor' | 'actorRole' | 'requestId'>[] = [];
  const jobs: unknown[] = [];
  const queue = { send: async (body: unknown) => void jobs.push(body), sendBatch: async () => undefined } as unknown as Queue;
  return {
    deps: { db, config: { WEBHOOK_URL: undefined }, mediaQueue: queue, webhookQueue: queue, audit: async (e) => void audited.push(e) },
    audited,
    jobs,
  };
}

const draft = (id: string, over: Partial<RecordingDraft> = {}): RecordingDraft => ({
  id,
  callId: 'call-create',
  userId: 'creator',
  callerPhone: '+14155550100',
  receiverPhone: null,
  startTime: '2026-11-01T10:00:00+01:00',
  endTime: null,
  format: 'wav',
  size: 1234,
  status: 'processing',
  object: { objectKey: `recordings/${id}/original.enc`, ciphertextSize: 1262, wrappedDataKey: new Uint8Array(60), keyVersion: 1 },
  createdAt: new Date().toISOString(),
  ...over,
});

describe('commitRecording', () => {
  it('writes an upload as processing, audits recording.create and queues its processing', async () => {
    const { deps, audited, jobs } = collectingDeps();
    const id = newRecordingId();
    let abandoned = false;
    const committed = await commitRecording(deps, { source: 'upload', row: recordingRow(draft(id)), abandon: async () => void (abandoned = true) });
    expect(committed).toEqual({ recordingId: id, userId: 'creator', callId: 'call-create', size: 1234 });
    const row = (await findRecording(db, id))!;
    expect(row.status).toBe('processing');
    expect(row.startTime).toBe('2026-11-01T09:00:00.000Z');
    expect(row.storageTier).toBe('hot');
    expect(abandoned).toBe(false);
    expect(audited).toEqual([{ action: 'recording.create', recordingId: id, subjectUserId: 'creator', outcome: 'success', details: { size: 1234, format: 'wav' } }]);
    expect(jobs).toEqual([{ type: 'process', recordingId: id }]);
  });

  it('abandons the object of an upload whose row D1 refuses, and audits and queues nothing', async () => {
    const { deps, audited, jobs } = collectingDeps();
    const id = newRecordingId();
    await commitRecording(deps, { source: 'upload', row: recordingRow(draft(id)), abandon: async () => undefined });
    let abandoned = false;
    // The same id again: the primary key refuses the row.
    const again = commitRecording(deps, { source: 'upload', row: recordingRow(draft(id, { callId: 'other' })), abandon: async () => void (abandoned = true) });
    await expect(again).rejects.toThrow();
    expect(abandoned).toBe(true);
    expect(audited).toHaveLength(1);
    expect(jobs).toHaveLength(1);
    expect((await findRecording(db, id))!.callId).toBe('call-create');
  });

  it('completes a live call from recording to processing, and reports a row deleted during the call as gone', async () => {
    const { deps, audited, jobs } = collectingDeps();
    const live = newRecordingId();
    const gone = newRecordingId();
    for (const id of [live, gone]) await insertLiveRecording(db, recordingRow(draft(id, { status: 'recording', object: null, size: 0 })));
    expect((await findRecording(db, live))!.status).toBe('recording');
    await env.DB.prepare('UPDATE recordings SET deleted_at = ? WHERE id = ?').bind(new Date().toISOString(), gone).run();
    const object = { objectKey: `recordings/${live}/original.enc`, ciphertextSize: 2000, wrappedDataKey: new Uint8Array(60), keyVersion: 1 };
    const common = { source: 'live' as const, callId: 'call-create', userId: 'creator', endTime: new Date().toISOString(), size: 1972, object, pauses: null, gaps: null, details: { endReason: 'stop' } };
    expect(await commitRecording(deps, { ...common, recordingId: live })).toEqual({ recordingId: live, userId: 'creator', callId: 'call-create', size: 1972 });
    expect(await commitRecording(deps, { ...common, recordingId: gone, object: { ...object, objectKey: `recordings/${gone}/original.enc` } })).toBeNull();
    const row = (await findRecording(db, live))!;
    expect([row.status, row.size, row.objectKey]).toEqual(['processing', 1972, object.objectKey]);
    expect(audited).toEqual([{ action: 'recording.create', recordingId: live, subjectUserId: 'creator', outcome: 'success', details: { live: true, endReason: 'stop', size: 1972 } }]);
    expect(jobs).toEqual([{ type: 'process', recordingId: live }]);
  });
});
