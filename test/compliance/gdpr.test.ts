/**
 * GDPR export and erasure through the API, with real R2 and D1: the export is complete and its
 * download links play without credentials; erasure deletes every object (checked independently
 * here), row, transcript and grant, keeps what is on legal hold and says so, destroys the key only
 * when nothing retained needs it (then a recording row restored from history cannot be decrypted),
 * resumes when cut off, is audited and announced by webhook.
 */
import { env } from 'cloudflare:test';
import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { eraseSubject, type ErasureReport, type SubjectExport } from '../../src/compliance/gdpr';
import { getConfig } from '../../src/config';
import { createDb } from '../../src/db/client';
import { KeyUnavailable, unwrapRecordingKey } from '../../src/crypto/keys';
import { findRecording, type RecordingRow } from '../../src/db/recordings';
import { redactionOriginals, renditions, transcripts, userKeys } from '../../src/db/schema';
import { objectKeyFor } from '../../src/storage/object-keys';
import type { BlobStore } from '../../src/storage/blob-store';
import { createBlobStore } from '../../src/storage/select';
import { settleAudit } from '../support/audit';
import { randomBytes, withMagic } from '../support/audio';
import { API_KEY, as, call } from '../support/auth';
import { bytesOf, callWith, equalBytes, uploadOk } from '../support/recordings';
import { TEST_SECRETS } from '../support/secrets';

const config = getConfig(env);
const db = createDb(env.DB);
const store = createBlobStore(env, config);

function audio(size: number): Uint8Array {
  const bytes = withMagic('wav', size);
  bytes.set(randomBytes(size - 12), 12);
  return bytes;
}

async function addTranscript(recordingId: string, userId: string, text: string): Promise<void> {
  const now = new Date().toISOString();
  await db.insert(transcripts).values({ recordingId, userId, language: 'en', text, segments: [{ start: 0, end: 1.5, speaker: 'A', text }], createdAt: now, updatedAt: now });
}

/** A rendition as processing leaves it: an object and its row. */
async function addRendition(recordingId: string): Promise<string> {
  const key = objectKeyFor(recordingId, 'high');
  await store.putBytes(key, randomBytes(2048));
  await db.insert(renditions).values({ recordingId, quality: 'high', objectKey: key, format: 'webm', contentType: 'audio/webm', size: 2000, ciphertextSize: 2048, durationMs: 1000, createdAt: new Date().toISOString() });
  return key;
}

async function grant(owner: string, recordingId: string, userId: string): Promise<void> {
  const res = await call(`/api/v1/recordings/${recordingId}/permissions`, { method: 'POST', headers: { ...(await as(owner)), 'content-type': 'application/json' }, body: JSON.stringify({ userId }) });
  expect(res.status).toBe(200);
}

async function hold(recordingId: string, place: boolean): Promise<void> {
  const res = await call(`/api/v1/lifecycle/${recordingId}/legal-hold`, { method: place ? 'POST' : 'DELETE', headers: { ...(await as('gdpr-admin', 'admin')), 'content-type': 'application/json' }, ...(place ? { body: JSON.stringify({ reason: 'litigation 42' }) } : {}) });
  expect(res.status, await res.clone().text()).toBe(200);
}

async function playbackUrl(user: string, recordingId: string): Promise<string> {
  const res = await call(`/api/v1/recordings/${recordingId}/playback-url?ttl=3600`, { headers: await as(user) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { url: string }).url;
}

async function erase(who: Record<string, string>, userId?: string): Promise<{ status: number; report: ErasureReport }> {
  const res = await call(`/api/v1/gdpr/data${userId ? `?userId=${userId}` : ''}`, { method: 'DELETE', headers: who });
  return { status: res.status, report: (await res.json()) as ErasureReport };
}

async function auditActions(userId: string): Promise<{ action: string; outcome: string; subjectUserId: string | null; details: Record<string, unknown> | null }[]> {
  await settleAudit();
  const res = await call(`/api/v1/audit?userId=${userId}&limit=500`, { headers: await as('gdpr-auditor', 'auditor') });
  return ((await res.json()) as { items: { action: string; outcome: string; subjectUserId: string | null; details: Record<string, unknown> | null }[] }).items;
}

describe('export', () => {
  const alice = 'gdpr-alice';
  const uploads = new Map<string, Uint8Array>();
  let carolRecording: string;

  beforeAll(async () => {
    for (const size of [3000, 50_000, 20_001]) {
      const bytes = audio(size);
      uploads.set((await uploadOk(alice, bytes)).id, bytes);
    }
    const [first] = uploads.keys();
    await addTranscript(first!, alice, 'hello from alice');
    await grant(alice, first!, 'gdpr-bob');
    carolRecording = (await uploadOk('gdpr-carol', audio(1000))).id;
    await grant('gdpr-carol', carolRecording, alice);
    const consent = await call('/api/v1/gdpr/consent', { method: 'PUT', headers: { ...(await as(alice)), 'content-type': 'application/json' }, body: JSON.stringify({ recording: true, transcription: false }) });
    expect(consent.status).toBe(200);
    // Someone else's activity, which must not show up in alice's export.
    await call('/api/v1/gdpr/consent', { headers: await as('gdpr-dave') });
  });

  it('holds consent, recordings with working signed download URLs, transcripts, audit events, grants and key versions', async () => {
    await settleAudit();
    const res = await call('/api/v1/gdpr/export', { headers: await as(alice) });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('private, no-store');
    const doc = (await res.json()) as SubjectExport;
    expect(doc.userId).toBe(alice);
    expect(Math.abs(Date.parse(doc.exportedAt) - Date.now())).toBeLessThan(60_000);
    expect(doc.consent).toMatchObject({ userId: alice, consents: { recording: true, transcription: false } });
    expect(doc.recordings.map((r) => r.id).sort()).toEqual([...uploads.keys()].sort());

    for (const recording of doc.recordings) {
      expect(recording).toMatchObject({ userId: alice, format: 'wav', downloadUnavailable: null });
      const expires = Date.parse(recording.downloadUrlExpiresAt!) - Date.now();
      expect(expires).toBeGreaterThan(23 * 3600_000);
      expect(expires).toBeLessThanOrEqual(24 * 3600_000);
      // No credentials: the signature is the authorization.
      const download = await call(recording.downloadUrl!);
      expect(download.status).toBe(200);
      expect(equalBytes(await bytesOf(download), uploads.get(recording.id)!)).toBe(true);
    }

    expect(doc.transcripts).toEqual([expect.objectContaining({ recordingId: [...uploads.keys()][0], language: 'en', text: 'hello from alice' })]);

    const actions = doc.auditEvents.map((e) => e.action);
    expect(actions.filter((a) => a === 'recording.create').length).toBe(3);
    expect(actions).toContain('gdpr.consent.update');
    expect(actions).toContain('recording.permission.grant');
    expect(doc.auditEvents.every((e) => e.actor === alice || e.subjectUserId === alice || uploads.has(e.recordingId ?? '') || e.actor === `signed-url:${alice}`)).toBe(true);
    expect(doc.auditEvents.some((e) => e.actor === 'gdpr-dave')).toBe(false);
    // Oldest first; within a shard, in chain order.
    expect(doc.auditEvents.map((e) => e.at)).toEqual([...doc.auditEvents.map((e) => e.at)].sort());
    for (const shard of new Set(doc.auditEvents.map((e) => e.shard))) {
      const seqs = doc.auditEvents.filter((e) => e.shard === shard).map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }

    expect(doc.permissions.grantedToOthers).toEqual([expect.objectContaining({ recordingId: [...uploads.keys()][0], userId: 'gdpr-bob', grantedBy: alice })]);
    expect(doc.permissions.grantedToSubject).toEqual([expect.objectContaining({ recordingId: carolRecording, userId: alice, ownerUserId: 'gdpr-carol' })]);
    expect(doc.encryptionKeys).toEqual([{ version: 1, createdAt: expect.any(String), retiredAt: null, destroyedAt: null }]);
    expect(JSON.stringify(doc)).not.toMatch(/wrapped|secret/i);
  });

  it('is audited, and an admin or a service exports any user with ?userId=', async () => {
    const events = await auditActions(alice);
    expect(events.some((e) => e.action === 'gdpr.export' && e.outcome === 'success' && e.subjectUserId === alice)).toBe(true);
    const byAdmin = (await (await call(`/api/v1/gdpr/export?userId=${alice}`, { headers: await as('gdpr-admin', 'admin') })).json()) as SubjectExport;
    expect(byAdmin.recordings.map((r) => r.id).sort()).toEqual([...uploads.keys()].sort());
    expect((await call(`/api/v1/gdpr/export?userId=${alice}`, { headers: { 'x-api-key': API_KEY } })).status).toBe(200);
  });

  it('refuses another user (403, audited), a service without userId (400), no credentials (401), and is 404 when GDPR is disabled', async () => {
    const res = await call(`/api/v1/gdpr/export?userId=${alice}`, { headers: await as('gdpr-mallory') });
    expect(res.status).toBe(403);
    expect((await auditActions(alice)).some((e) => e.action === 'gdpr.export' && e.outcome === 'denied')).toBe(true);
    expect((await call('/api/v1/gdpr/export', { headers: { 'x-api-key': API_KEY } })).status).toBe(400);
    expect((await call('/api/v1/gdpr/export')).status).toBe(401);
    expect((await callWith({ GDPR_ENABLED: 'false' }, '/api/v1/gdpr/export', { headers: await as(alice) })).status).toBe(404);
    expect((await callWith({ GDPR_ENABLED: 'false' }, '/api/v1/gdpr/data', { method: 'DELETE', headers: await as(alice) })).status).toBe(404);
  });

  it('lists a recording retention deleted (an anonymized tombstone) apart, and erasure removes it too', async () => {
    const user = 'gdpr-tomb';
    const id = (await uploadOk(user, audio(3000))).id;
    // What retention leaves: audio gone, row hidden and anonymized.
    await store.delete(objectKeyFor(id));
    await env.DB.prepare("update recordings set status = 'deleted', deleted_at = ?, caller_phone = 'anon:1', receiver_phone = 'anon:2', object_key = null, wrapped_data_key = null where id = ?")
      .bind(new Date().toISOString(), id)
      .run();
    const doc = (await (await call('/api/v1/gdpr/export', { headers: await as(user) })).json()) as SubjectExport;
    expect(doc.recordings).toEqual([]);
    expect(doc.deletedRecordings).toEqual([expect.objectContaining({ id, callerPhone: 'anon:1', receiverPhone: 'anon:2', deletedAt: expect.any(String) })]);
    const { report } = await erase(await as(user));
    expect(report.deletedRecordings).toEqual([id]);
    expect(await env.DB.prepare('select count(*) n from recordings where id = ?').bind(id).first('n')).toBe(0);
  });

  it('gives an archived recording no link, and says why', async () => {
    const [, second] = uploads.keys();
    await env.DB.prepare("update recordings set storage_tier = 'archive' where id = ?").bind(second).run();
    try {
      const doc = (await (await call('/api/v1/gdpr/export', { headers: await as(alice) })).json()) as SubjectExport;
      expect(doc.recordings.find((r) => r.id === second)).toMatchObject({ storageTier: 'archive', downloadUrl: null, downloadUnavailable: 'archived' });
    } finally {
      await env.DB.prepare("update recordings set storage_tier = 'hot' where id = ?").bind(second).run();
    }
  });
});

describe('erasure', () => {
  const erin = 'gdpr-erin';
  let deletable: string[];
  let held: string;
  let heldBytes: Uint8Array;
  let renditionKey: string;
  let strayKey: string;
  let unredactedKey: string;
  let giaRecording: string;
  let urlBefore: string;
  let heldUrl: string;
  let rowBefore: RecordingRow;

  beforeAll(async () => {
    deletable = [(await uploadOk(erin, audio(4000))).id, (await uploadOk(erin, audio(70_000))).id];
    heldBytes = audio(5000);
    held = (await uploadOk(erin, heldBytes)).id;
    renditionKey = await addRendition(deletable[0]!);
    // An object no row names, as a processing job racing a deletion could leave.
    strayKey = objectKeyFor(deletable[1]!, 'low');
    await store.putBytes(strayKey, randomBytes(100));
    // The unredacted original a redaction keeps (while held, or until it is destroyed).
    unredactedKey = objectKeyFor(deletable[1]!).replace(/[^/]+$/, 'original-r1-test.enc');
    await store.putBytes(unredactedKey, randomBytes(300));
    await db.insert(redactionOriginals).values({ objectKey: unredactedKey, recordingId: deletable[1]!, size: 200, ciphertextSize: 300, contentType: 'audio/wav', redaction: 1, createdAt: new Date().toISOString() });
    await addTranscript(deletable[0]!, erin, 'erin said something');
    await addTranscript(held, erin, 'erin said something under hold');
    await grant(erin, deletable[0]!, 'gdpr-frank');
    giaRecording = (await uploadOk('gdpr-gia', audio(1000))).id;
    await grant('gdpr-gia', giaRecording, erin);
    await call('/api/v1/gdpr/consent', { method: 'PUT', headers: { ...(await as(erin)), 'content-type': 'application/json' }, body: JSON.stringify({ recording: true, transcription: true }) });
    await hold(held, true);
    urlBefore = await playbackUrl(erin, deletable[0]!);
    heldUrl = await playbackUrl(erin, held);
    expect((await call(urlBefore)).status).toBe(200);
    rowBefore = (await findRecording(db, deletable[0]!))!;
  });

  it('deletes every object, row, transcript and grant, keeps the held recording and its key, and says so', async () => {
    const { status, report } = await erase(await as(erin));
    expect(status).toBe(200);
    expect(report.userId).toBe(erin);
    expect([...report.deletedRecordings].sort()).toEqual([...deletable].sort());
    expect(report.retainedRecordings).toEqual([{ id: held, reason: 'legal_hold' }]);

    const keys = report.verification.objects.map((o) => o.key).sort();
    expect(keys).toEqual([objectKeyFor(deletable[0]!), renditionKey, objectKeyFor(deletable[1]!), strayKey, unredactedKey].sort());
    expect(report.verification.objects.every((o) => o.goneFromStorage)).toBe(true);
    expect(report.verification.allObjectsGone).toBe(true);
    // Checked here too, independently of the report.
    for (const key of keys) expect(await env.RECORDINGS.head(key)).toBeNull();
    expect(await env.RECORDINGS.head(objectKeyFor(held))).not.toBeNull();

    expect(report.verification).toMatchObject({
      keyDestroyed: false,
      keyVersionsDestroyed: 0,
      keyRetainedReason: 'legal_hold',
      transcriptsDeleted: 1,
      grantsRevoked: 1,
      consentDeleted: true,
      remaining: { recordings: 0, transcripts: 0, grantsHeld: 0, consent: false },
    });

    for (const id of deletable) {
      expect(await env.DB.prepare('select count(*) n from recordings where id = ?').bind(id).first('n')).toBe(0);
      expect(await env.DB.prepare('select count(*) n from renditions where recording_id = ?').bind(id).first('n')).toBe(0);
      expect(await env.DB.prepare('select count(*) n from recording_permissions where recording_id = ?').bind(id).first('n')).toBe(0);
      expect(await env.DB.prepare('select count(*) n from redaction_originals where recording_id = ?').bind(id).first('n')).toBe(0);
    }
    expect(await env.DB.prepare('select count(*) n from transcripts where recording_id = ?').bind(held).first('n')).toBe(1);
    expect(await env.DB.prepare('select count(*) n from recording_permissions where grantee_user_id = ?').bind(erin).first('n')).toBe(0);

    // Erased: every route and every link answers 404. Held: still whole and readable.
    expect((await call(`/api/v1/recordings/${deletable[0]}`, { headers: await as(erin) })).status).toBe(404);
    expect((await call(urlBefore)).status).toBe(404);
    const heldDownload = await call(`/api/v1/recordings/${held}/download`, { headers: await as(erin) });
    expect(equalBytes(await bytesOf(heldDownload), heldBytes)).toBe(true);
    expect((await call(heldUrl)).status).toBe(200);

    const outlives = new Map(report.outlives.map((o) => [o.what, o]));
    const days = (what: string) => Math.round((Date.parse(outlives.get(what)!.until!) - Date.parse(report.erasedAt)) / 86_400_000);
    expect(days('D1 Time Travel')).toBe(30);
    expect(days('Durable Object point-in-time recovery')).toBe(30);
    expect(outlives.get('Audit log')).toMatchObject({ until: null, detail: expect.stringContaining('hash-chained') });
    expect(outlives.get('Key records')!.detail).toMatch(/legal hold/);
    // Audio is never cacheable (`private, no-store`): no cached copy outlives the erasure.
    expect(outlives.has('Caches of signed playback URLs')).toBe(false);
  });

  it('is audited as gdpr.erased, and the audit events about the user are kept and still verify', async () => {
    const events = await auditActions(erin);
    const erased = events.find((e) => e.action === 'gdpr.erased' && e.outcome === 'success')!;
    expect(erased.subjectUserId).toBe(erin);
    expect(erased.details).toMatchObject({ deleted: 2, retained: [{ id: held, reason: 'legal_hold' }], keyDestroyed: false });
    expect(events.some((e) => e.action === 'recording.create')).toBe(true);
    expect((await call('/api/v1/audit/checkpoints', { method: 'POST', headers: await as('gdpr-admin', 'admin') })).status).toBe(201);
    const verify = await call('/api/v1/audit/verify', { headers: await as('gdpr-auditor', 'auditor') });
    expect(await verify.json()).toMatchObject({ ok: true });
  });

  it('once the hold is released, erasing again deletes the rest and crypto-shreds the key', async () => {
    await hold(held, false);
    const { status, report } = await erase(await as('gdpr-admin', 'admin'), erin);
    expect(status).toBe(200);
    expect(report.deletedRecordings).toEqual([held]);
    expect(report.retainedRecordings).toEqual([]);
    expect(report.verification).toMatchObject({ keyDestroyed: true, keyRetainedReason: null, allObjectsGone: true, transcriptsDeleted: 1, consentDeleted: false });
    expect(report.verification.keyVersionsDestroyed).toBeGreaterThanOrEqual(1);
    expect(await env.RECORDINGS.head(objectKeyFor(held))).toBeNull();
    expect((await call(heldUrl)).status).toBe(404);
    const keys = await db.select().from(userKeys).where(eq(userKeys.userId, erin));
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.wrappedSecret === null && k.destroyedAt !== null)).toBe(true);
    expect(report.outlives.find((o) => o.what === 'Key records')!.detail).toMatch(/secret is destroyed/);
  });

  it('leaves a recording row restored from database history undecryptable', async () => {
    // What D1 Time Travel could bring back: the row with its wrapped data key. The user key is gone.
    await expect(unwrapRecordingKey(db, TEST_SECRETS.MASTER_ENCRYPTION_KEY, erin, rowBefore.keyVersion!, rowBefore.wrappedDataKey!, rowBefore.id)).rejects.toBeInstanceOf(KeyUnavailable);
  });

  it('of a user with nothing stored reports nothing deleted and no key left', async () => {
    const { status, report } = await erase(await as('gdpr-nobody'));
    expect(status).toBe(200);
    expect(report).toMatchObject({ deletedRecordings: [], retainedRecordings: [], verification: { objects: [], keyDestroyed: true, keyVersionsDestroyed: 0 } });
  });

  it("refuses someone else's data (403) unless admin", async () => {
    const { status } = await erase(await as('gdpr-mallory'), 'gdpr-gia');
    expect(status).toBe(403);
    expect((await call(`/api/v1/recordings/${giaRecording}`, { headers: await as('gdpr-gia') })).status).toBe(200);
  });

  it('cut off midway, destroys the key first and finishes when run again', async () => {
    const user = 'gdpr-ivan';
    const ids = [(await uploadOk(user, audio(3000))).id, (await uploadOk(user, audio(3000))).id, (await uploadOk(user, audio(3000))).id];
    const failing = new Proxy(store, {
      get(target, prop) {
        if (prop === 'delete') return (key: string) => (key === objectKeyFor(ids[1]!) ? Promise.reject(new Error('storage went away')) : target.delete(key));
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as BlobStore;
    await expect(eraseSubject({ db, store: failing }, user)).rejects.toThrow('storage went away');
    // Already hidden from every route, and already unreadable.
    for (const id of ids) expect((await call(`/api/v1/recordings/${id}`, { headers: await as(user) })).status).toBe(404);
    expect(await env.DB.prepare('select count(wrapped_secret) n from user_keys where user_id = ?').bind(user).first('n')).toBe(0);
    const { report } = await erase(await as(user));
    expect(report.deletedRecordings).toContain(ids[1]);
    expect(report.verification).toMatchObject({ allObjectsGone: true, keyDestroyed: true, remaining: { recordings: 0 } });
    for (const id of ids) expect(await env.RECORDINGS.head(objectKeyFor(id))).toBeNull();
  });

  it('queues a signed gdpr.erased webhook when WEBHOOK_URL is set', async () => {
    const user = 'gdpr-judy';
    const id = (await uploadOk(user, audio(2000))).id;
    const sent: unknown[] = [];
    const queue = { send: async (body: unknown) => void sent.push(body), sendBatch: async () => undefined } as unknown as Queue;
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
    const res = await createApp().fetch(
      new Request(`http://recorder.test/api/v1/gdpr/data`, { method: 'DELETE', headers: await as(user) }),
      { ...env, WEBHOOK_URL: 'https://hooks.example.test/recorder', WEBHOOK_QUEUE: queue },
      ctx,
    );
    expect(res.status).toBe(200);
    expect(sent).toEqual([
      {
        type: 'webhook',
        id: expect.stringMatching(/^evt_[0-9a-f-]{36}$/),
        event: 'gdpr.erased',
        createdAt: expect.any(String),
        data: { userId: user, erasedAt: expect.any(String), deletedRecordings: [id], retainedRecordings: [], keyDestroyed: true },
      },
    ]);
  });
});
