/**
 * Automatic transcripts through the recording's lifecycle, in workerd: a transcribe job that was
 * never sent is queued again when the processing message comes back; a transcribe job on an
 * archived recording waits for the restore; retention keeps the transcript (and the key it is
 * sealed under) until transcript retention, then destroys both; a redaction rewrites the
 * transcript in its own commit, so a failure on either side of that commit leaves no transcript
 * under a destroyed key and no index matching the redacted words.
 */
import { env } from 'cloudflare:test';
import { and, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { auditLedger } from '../../src/compliance/audit-log';
import { runDaily } from '../../src/compliance/scheduled';
import { archiveRecording, restoreRecording } from '../../src/compliance/tiering';
import { getConfig } from '../../src/config';
import { createDb } from '../../src/db/client';
import { findRecording, type RecordingRow } from '../../src/db/recordings';
import { auditEvents, recordings, transcripts } from '../../src/db/schema';
import type { MediaJob } from '../../src/domain/media-jobs';
import { redactRecording } from '../../src/media/redact';
import { uploadRaw as storeUpload } from '../../src/recordings/upload';
import type { BlobStore } from '../../src/storage/blob-store';
import { objectPrefixFor } from '../../src/storage/object-keys';
import { createBlobStore } from '../../src/storage/select';
import { settleAudit } from '../support/audit';
import { API_KEY, as, call } from '../support/auth';
import { sineWav } from '../support/audio';
import { deliverMediaJob, keepingQueue } from '../support/media-queue';
import { fields, uploadServiceDeps } from '../support/recordings';

const DAY_MS = 86_400_000;
const config = getConfig(env);
const db = createDb(env.DB);
const store = createBlobStore(env, config);
const quietLog = { debug() {}, info() {}, warn() {}, error() {}, child: () => quietLog };
const cron = { ledger: auditLedger(env, config), log: quietLog };

async function storeRecording(owner: string): Promise<string> {
  return (await storeUpload(uploadServiceDeps(db, store, config, keepingQueue().queue), owner, fields, new Response(sineWav(3, 440, 16000)).body!)).id;
}

async function row(id: string): Promise<RecordingRow> {
  const found = await findRecording(db, id);
  if (!found) throw new Error(`no recording ${id}`);
  return found;
}

async function processed(owner: string): Promise<string> {
  const id = await storeRecording(owner);
  expect((await deliverMediaJob({ type: 'process', recordingId: id })).acked).toBe(true);
  expect((await row(id)).status).toBe('ready');
  return id;
}

const transcribeJob = (id: string): MediaJob => ({ type: 'transcribe', recordingId: id });
const rawTranscript = (id: string) => db.select().from(transcripts).where(eq(transcripts.recordingId, id)).get();
const rawRecording = (id: string) => db.select().from(recordings).where(eq(recordings.id, id)).get();
const termCount = async (id: string) => (await env.DB.prepare('select count(*) as n from transcript_terms where recording_id = ?').bind(id).first<{ n: number }>())!.n;
const put = (id: string, body: unknown) =>
  call(`/api/v1/recordings/${id}/transcript`, { method: 'PUT', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify(body) });
const getTranscript = async (id: string, user: string, role?: 'admin') => call(`/api/v1/recordings/${id}/transcript`, { headers: await as(user, role) });
const search = async (q: string, user: string) =>
  ((await (await call(`/api/v1/recordings?q=${encodeURIComponent(q)}`, { headers: await as(user) })).json()) as { items: { id: string }[] }).items.map((r) => r.id);
const auditActions = async (id: string) => {
  await settleAudit();
  return (await db.select({ action: auditEvents.action }).from(auditEvents).where(eq(auditEvents.recordingId, id)).all()).map((e) => e.action);
};

describe('a transcribe job that was never sent', () => {
  it('is queued when the processing message is delivered again, and only while a transcript is due', async () => {
    const id = await storeRecording('tx-lost');
    // Processing is saved, then the transcribe job cannot be sent: the message is retried.
    const first = await deliverMediaJob({ type: 'process', recordingId: id }, { kept: keepingQueue('transcribe') });
    expect(first).toMatchObject({ acked: false, retried: true });
    expect((await row(id)).status).toBe('ready');
    const again = await deliverMediaJob({ type: 'process', recordingId: id });
    expect(again.acked).toBe(true);
    expect(again.sent).toEqual([transcribeJob(id)]);
    expect((await deliverMediaJob(transcribeJob(id))).acked).toBe(true);
    expect(await rawTranscript(id)).toMatchObject({ source: 'automatic', audioObjectKey: (await row(id)).objectKey });
    // Made from the current original: a further redelivery queues nothing.
    expect((await deliverMediaJob({ type: 'process', recordingId: id })).sent).toEqual([]);
  }, 120_000);

  it('is not queued again for an owner who refused transcription', async () => {
    const id = await storeRecording('tx-lost-refusing');
    await deliverMediaJob({ type: 'process', recordingId: id }, { kept: keepingQueue('transcribe') });
    await call('/api/v1/gdpr/consent', { method: 'PUT', headers: { ...(await as('tx-lost-refusing')), 'content-type': 'application/json' }, body: JSON.stringify({ recording: true, transcription: false }) });
    expect((await deliverMediaJob({ type: 'process', recordingId: id })).sent).toEqual([]);
  }, 120_000);
});

describe('transcription and the archive tier', () => {
  it('defers the transcribe job while the recording is archived; the restore queues it again', async () => {
    const id = await processed('tx-archived');
    await archiveRecording({ db, store }, await row(id), new Date());
    expect((await deliverMediaJob(transcribeJob(id))).acked).toBe(true);
    expect(await rawTranscript(id)).toBeUndefined();
    expect(await auditActions(id)).toContain('transcript.automatic_deferred');

    const resumed: string[] = [];
    const deps = { db, store, resumeProcessing: async (recordingId: string) => void resumed.push(recordingId) };
    expect((await restoreRecording(deps, await row(id), 'admin', new Date())).row.storageTier).toBe('hot');
    expect(resumed).toEqual([id]);
    // The process job finds the recording processed and queues the transcription that is due.
    expect((await deliverMediaJob({ type: 'process', recordingId: id })).sent).toEqual([transcribeJob(id)]);
    expect((await deliverMediaJob(transcribeJob(id))).acked).toBe(true);
    expect((await rawTranscript(id))?.source).toBe('automatic');

    // With its transcript made, a later archive and restore queues nothing.
    await archiveRecording({ db, store }, await row(id), new Date());
    await restoreRecording(deps, await row(id), 'admin', new Date());
    expect(resumed).toEqual([id]);
  }, 180_000);
});

describe('redaction and the transcript in one commit', () => {
  const said = { language: 'en', text: 'hello secret code bye', segments: [{ start: 0, end: 0.9, speaker: null, text: 'hello' }, { start: 1, end: 2, speaker: null, text: 'secret code' }, { start: 2.5, end: 3, speaker: null, text: 'bye' }] };
  const redact = (id: string) =>
    call(`/api/v1/recordings/${id}/redactions`, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ startMs: 1000, endMs: 2000, reason: 'card number' }) });
  const texts = async (id: string, user: string) => ((await (await getTranscript(id, user)).json()) as { segments: { text: string }[] }).segments.map((s) => s.text);

  it('a failure inside the commit changes nothing: same audio, same transcript and index; the retry redacts both', async () => {
    const id = await processed('tx-redact-fail');
    expect((await put(id, said)).status).toBe(200);
    const before = await row(id);
    // The index rewrite fails inside the redaction's transaction.
    await env.DB.prepare(`create trigger fail_redacted_terms before insert on transcript_terms when new.recording_id = '${id}' begin select raise(abort, 'injected failure'); end`).run();
    try {
      const failed = await redact(id);
      expect(failed.status).toBe(500);
      expect(((await failed.json()) as { error: { code: string } }).error.code).toBe('internal');
    } finally {
      await env.DB.prepare('drop trigger fail_redacted_terms').run();
    }
    const after = await row(id);
    expect({ objectKey: after.objectKey, status: after.status, redactions: after.redactions }).toEqual({ objectKey: before.objectKey, status: 'ready', redactions: before.redactions });
    expect(await texts(id, 'tx-redact-fail')).toEqual(['hello', 'secret code', 'bye']);
    expect(await search('secret', 'tx-redact-fail')).toEqual([id]);
    // The redacted object made before the commit was removed again.
    expect((await store.list(objectPrefixFor(id))).keys.filter((key) => key.includes('original-r'))).toEqual([]);

    expect((await redact(id)).status).toBe(202);
    expect(await texts(id, 'tx-redact-fail')).toEqual(['hello', 'bye']);
    expect(await search('secret', 'tx-redact-fail')).toEqual([]);
    expect(await search('hello', 'tx-redact-fail')).toEqual([id]);
  }, 120_000);

  it('a failure after the commit leaves the transcript redacted and readable under the new key', async () => {
    const id = await processed('tx-redact-late');
    expect((await put(id, said)).status).toBe(200);
    const failingDeletes: BlobStore = Object.assign(Object.create(store) as BlobStore, { delete: async () => Promise.reject(new Error('storage delete failed')) });
    const queue = keepingQueue();
    const audit = async () => undefined;
    await expect(redactRecording({ db, store: failingDeletes, config, ffmpeg: env, queue: queue.queue, audit }, await row(id), { startMs: 1000, endMs: 2000, reason: 'pii' }, new Date())).rejects.toThrow('storage delete failed');
    const after = await row(id);
    expect(after.redactions).toHaveLength(1);
    expect(queue.sent).toEqual([{ type: 'process', recordingId: id }]);
    expect(await texts(id, 'tx-redact-late')).toEqual(['hello', 'bye']);
    expect(await search('secret', 'tx-redact-late')).toEqual([]);
  }, 120_000);
});

// Last: the daily run below ages every recording of this file.
describe('retention of a transcript after its audio', () => {
  const said = { language: 'en', text: 'the parcel arrives on thursday', segments: [{ start: 0, end: 2, speaker: null, text: 'the parcel arrives on thursday' }] };

  it('keeps the transcript readable (owner, admin) and its key until transcript retention, which deletes transcript, index and key', async () => {
    const kept = await storeRecording('tx-retention');
    const bare = await storeRecording('tx-retention');
    expect((await put(kept, said)).status).toBe(200);
    const audioKey = (await row(kept)).objectKey!;

    await runDaily(db, store, config, new Date(Date.now() + (config.RETENTION_DAYS_RECORDING + 1) * DAY_MS), cron);
    // The audio is gone: from storage and from every route but the transcript's.
    expect(await store.head(audioKey)).toBeNull();
    expect((await call(`/api/v1/recordings/${kept}`, { headers: await as('tx-retention') })).status).toBe(404);
    expect((await rawRecording(kept))).toMatchObject({ status: 'deleted', objectKey: null });
    expect((await rawRecording(kept))!.wrappedDataKey).not.toBeNull();
    expect((await rawRecording(bare))!.wrappedDataKey).toBeNull();
    // The transcript is read as before, by its owner and admins; no one else learns it exists.
    const owner = await getTranscript(kept, 'tx-retention');
    expect(owner.status).toBe(200);
    expect(await owner.json()).toEqual({ recordingId: kept, ...said, source: 'service', engine: null });
    expect((await getTranscript(kept, 'boss', 'admin')).status).toBe(200);
    expect((await getTranscript(kept, 'tx-stranger')).status).toBe(404);
    expect((await getTranscript(bare, 'tx-retention')).status).toBe(404);
    const exported = (await (await call('/api/v1/gdpr/export', { headers: await as('tx-retention') })).json()) as { transcripts: { recordingId: string; text: string }[] };
    expect(exported.transcripts.find((t) => t.recordingId === kept)?.text).toBe(said.text);

    await runDaily(db, store, config, new Date(Date.now() + (config.RETENTION_DAYS_TRANSCRIPT + 1) * DAY_MS), cron);
    expect(await rawTranscript(kept)).toBeUndefined();
    expect(await termCount(kept)).toBe(0);
    expect(await rawRecording(kept)).toMatchObject({ status: 'deleted', wrappedDataKey: null, keyVersion: null });
    expect((await getTranscript(kept, 'tx-retention')).status).toBe(404);
    await settleAudit();
    const reads = await db.select().from(auditEvents).where(and(eq(auditEvents.recordingId, kept), eq(auditEvents.action, 'transcript.read'))).all();
    expect(reads.length).toBeGreaterThan(0);
  }, 120_000);

  it('transcript retention of a recording whose audio is still kept leaves the recording’s key', async () => {
    const id = await storeRecording('tx-retention-live');
    expect((await put(id, said)).status).toBe(200);
    await env.DB.prepare("update transcripts set created_at = '2000-01-01T00:00:00.000Z' where recording_id = ?").bind(id).run();
    await runDaily(db, store, config, new Date(), cron);
    expect(await rawTranscript(id)).toBeUndefined();
    expect((await row(id)).wrappedDataKey).not.toBeNull();
    expect((await call(`/api/v1/recordings/${id}/download`, { headers: await as('tx-retention-live') })).status).toBe(200);
  });
});
