/**
 * Retention by the daily run, with the clock moved forward: what is due is deleted (objects gone
 * from R2, the row kept as an anonymized tombstone), nothing held is touched, transcripts follow
 * their own retention, and a run interrupted anywhere loses nothing and repeats no deletion.
 */
import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { drizzle } from 'drizzle-orm/d1';
import { anonymizePhone } from '../../src/compliance/retention';
import { expiredRecordings, tieringCandidates } from '../../src/db/lifecycle';
import * as schema from '../../src/db/schema';
import { runDaily, runHourly } from '../../src/compliance/scheduled';
import { auditLedger } from '../../src/compliance/audit-log';
import { parseConfig } from '../../src/config';
import { createDb } from '../../src/db/client';
import { StorageUnavailable, type BlobStore } from '../../src/storage/blob-store';
import { R2BlobStore } from '../../src/storage/r2';
import { settleAudit } from '../support/audit';
import { as, call } from '../support/auth';
import { withMagic } from '../support/audio';
import { fields, uploadOk } from '../support/recordings';
import { TEST_SECRETS } from '../support/secrets';

const DAY = 86_400_000;
const config = parseConfig({ ...env, RETENTION_DAYS_RECORDING: '30', RETENTION_DAYS_TRANSCRIPT: '365', ARCHIVAL_ENABLED: 'false', KEY_ROTATION_DAYS: '3650' });
const db = createDb(env.DB);
const r2 = new R2BlobStore(env.RECORDINGS);
const quiet = { ledger: auditLedger(env, config), log: { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet.log; } } };

interface Row {
  id: string;
  status: string;
  caller_phone: string | null;
  receiver_phone: string | null;
  deleted_at: string | null;
  wrapped_data_key: ArrayBuffer | null;
  object_key: string | null;
  legal_hold: number;
}

const rowOf = (id: string) => env.DB.prepare('select * from recordings where id = ?').bind(id).first<Row>();
const originalKey = (id: string) => `recordings/${id}/original.enc`;

async function readyRecording(owner: string, extra: Record<string, string> = {}): Promise<string> {
  const { id } = await uploadOk(owner, withMagic('ogg', 20_000), extra);
  await env.DB.prepare("update recordings set status = 'ready' where id = ?").bind(id).run();
  return id;
}

async function addTranscript(recordingId: string, createdAt: Date) {
  await env.DB.prepare("insert into transcripts (recording_id, user_id, language, text, segments, created_at, updated_at) values (?, 'u', 'en', 'hello', '[]', ?, ?)")
    .bind(recordingId, createdAt.toISOString(), createdAt.toISOString())
    .run();
}

async function retentionAudits(id: string): Promise<number> {
  await settleAudit();
  return (await env.DB.prepare("select count(*) as n from audit_events where recording_id = ? and action = 'recording.retention_delete'").bind(id).first<{ n: number }>())!.n;
}

/** Every live recording of this file's database is retained past now + 31 days: start each test clean. */
beforeEach(async () => {
  await env.DB.prepare('update recordings set legal_hold = 0').run();
  await env.DB.prepare("delete from job_cursors").run();
  await runDaily(db, r2, config, new Date(Date.now() + 400 * DAY), quiet);
});

describe('retention of recordings', () => {
  it('deletes recordings older than RETENTION_DAYS_RECORDING: objects gone, row an anonymized tombstone', async () => {
    const id = await readyRecording('ret-user');
    const young = new Date(Date.now() + 29 * DAY);
    await runDaily(db, r2, config, young, quiet);
    expect((await rowOf(id))?.deleted_at).toBeNull();

    const summary = await runDaily(db, r2, config, new Date(Date.now() + 31 * DAY), quiet);
    expect(summary.jobs.retention).toMatchObject({ deleted: 1, objectsDeleted: 1, unfinished: 0 });
    expect(await env.RECORDINGS.head(originalKey(id))).toBeNull();
    const row = (await rowOf(id))!;
    expect(row.status).toBe('deleted');
    expect(row.deleted_at).not.toBeNull();
    expect(row.wrapped_data_key).toBeNull();
    expect(row.object_key).toBeNull();
    for (const phone of [row.caller_phone, row.receiver_phone]) {
      expect(phone).toMatch(/^anon:[0-9a-f]{64}$/);
      expect(phone).not.toContain('4155550100');
      expect(phone).not.toContain('2071838750');
    }
    expect(row.caller_phone).toBe(await anonymizePhone(TEST_SECRETS.MASTER_ENCRYPTION_KEY, fields.callerPhone));
    // Every route answers 404 from here on.
    for (const path of ['', '/download', '/stream']) expect((await call(`/api/v1/recordings/${id}${path}`, { headers: await as('ret-user') })).status).toBe(404);
    expect(await retentionAudits(id)).toBe(1);
  });

  it('also destroys a redaction’s unredacted original and anything else under the recording’s prefix', async () => {
    const id = await readyRecording('ret-redacted');
    const kept = `recordings/${id}/original-r1-kept.enc`;
    const stray = `recordings/${id}/stray.tmp`;
    await env.RECORDINGS.put(kept, new Uint8Array(100));
    await env.RECORDINGS.put(stray, new Uint8Array(10));
    await env.DB.prepare("insert into redaction_originals (object_key, recording_id, size, ciphertext_size, content_type, redaction, created_at) values (?, ?, 60, 100, 'audio/ogg', 1, ?)")
      .bind(kept, id, new Date().toISOString())
      .run();
    const summary = await runDaily(db, r2, config, new Date(Date.now() + 31 * DAY), quiet);
    expect(summary.jobs.retention).toMatchObject({ deleted: 1, objectsDeleted: 3 });
    for (const key of [originalKey(id), kept, stray]) expect(await env.RECORDINGS.head(key), key).toBeNull();
    expect(await env.DB.prepare('select 1 from redaction_originals where recording_id = ?').bind(id).first()).toBeNull();
  });

  it('queues a recording.deleted webhook for each recording it deletes', async () => {
    const id = await readyRecording('ret-hook');
    const sent: unknown[] = [];
    const queue = { send: async (body: unknown) => void sent.push(body) } as unknown as Queue;
    const hooked = parseConfig({ ...env, RETENTION_DAYS_RECORDING: '30', ARCHIVAL_ENABLED: 'false', KEY_ROTATION_DAYS: '3650', WEBHOOK_URL: 'https://hooks.example/recorder' });
    await runDaily(db, r2, hooked, new Date(Date.now() + 31 * DAY), { ...quiet, queue });
    expect(sent).toEqual([expect.objectContaining({ type: 'webhook', event: 'recording.deleted', data: expect.objectContaining({ recordingId: id, userId: 'ret-hook', reason: 'retention' }) })]);
  });

  it('never deletes a recording on legal hold; after release the next run does', async () => {
    const held = await readyRecording('ret-held');
    const free = await readyRecording('ret-free');
    await call(`/api/v1/lifecycle/${held}/legal-hold`, { method: 'POST', headers: await as('ret-admin', 'admin') });
    const later = new Date(Date.now() + 60 * DAY);
    await runDaily(db, r2, config, later, quiet);
    expect((await rowOf(free))?.status).toBe('deleted');
    const kept = (await rowOf(held))!;
    expect(kept.deleted_at).toBeNull();
    expect(kept.caller_phone).toBe(fields.callerPhone);
    expect(await env.RECORDINGS.head(originalKey(held))).not.toBeNull();

    await call(`/api/v1/lifecycle/${held}/legal-hold`, { method: 'DELETE', headers: await as('ret-admin', 'admin') });
    await runDaily(db, r2, config, later, quiet);
    expect((await rowOf(held))?.status).toBe('deleted');
    expect(await env.RECORDINGS.head(originalKey(held))).toBeNull();
  });

  it('leaves recordings still being recorded alone until no live call can be running', async () => {
    const id = await readyRecording('ret-live');
    await env.DB.prepare("update recordings set status = 'recording' where id = ?").bind(id).run();
    // One day of retention: the row is due, but a live call may last LIVE_MAX_DURATION_HOURS (12).
    const short = parseConfig({ ...env, RETENTION_DAYS_RECORDING: '1', ARCHIVAL_ENABLED: 'false', KEY_ROTATION_DAYS: '3650' });
    await runDaily(db, r2, short, new Date(Date.now() + 1.2 * DAY), quiet);
    expect((await rowOf(id))?.deleted_at).toBeNull();
    await runDaily(db, r2, short, new Date(Date.now() + 3 * DAY), quiet);
    expect((await rowOf(id))?.status).toBe('deleted');
  });

  it('works in batches that resume where the previous run stopped', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await readyRecording(`ret-batch-${i}`));
    const later = new Date(Date.now() + 31 * DAY);
    const first = await runDaily(db, r2, config, later, { ...quiet, limits: { batchSize: 1, maxBatches: 2 } });
    expect(first.jobs.retention).toMatchObject({ deleted: 2, passComplete: false });
    const cursor = await env.DB.prepare("select cursor from job_cursors where job = 'retention'").first<{ cursor: string }>();
    expect(cursor?.cursor).toContain(ids[1]);
    const second = await runDaily(db, r2, config, later, { ...quiet, limits: { batchSize: 1, maxBatches: 2 } });
    expect(second.jobs.retention).toMatchObject({ deleted: 2 });
    const third = await runDaily(db, r2, config, later, { ...quiet, limits: { batchSize: 1, maxBatches: 2 } });
    expect(third.jobs.retention).toMatchObject({ deleted: 1, passComplete: true });
    for (const id of ids) {
      expect((await rowOf(id))?.status).toBe('deleted');
      expect(await retentionAudits(id)).toBe(1);
    }
  });
});

describe('the age of a recording is the age of its call', () => {
  const callStarted = (daysAgo: number) => ({ startTime: new Date(Date.now() - daysAgo * DAY).toISOString() });

  it('deletes a recording uploaded today whose call started 40 days ago; a held one of the same age stays', async () => {
    const old = await readyRecording('ret-old-call', callStarted(40));
    const held = await readyRecording('ret-old-held', callStarted(40));
    const recent = await readyRecording('ret-recent-call', callStarted(29));
    await call(`/api/v1/lifecycle/${held}/legal-hold`, { method: 'POST', headers: await as('ret-admin', 'admin') });
    const summary = await runDaily(db, r2, config, new Date(), quiet);
    expect(summary.jobs.retention).toMatchObject({ deleted: 1 });
    expect((await rowOf(old))?.status).toBe('deleted');
    expect(await env.RECORDINGS.head(originalKey(old))).toBeNull();
    expect((await rowOf(held))?.deleted_at).toBeNull();
    expect(await env.RECORDINGS.head(originalKey(held))).not.toBeNull();
    expect((await rowOf(recent))?.deleted_at).toBeNull();
  });

  it('leaves an old call that is still being processed alone until no job or live call can be writing to it', async () => {
    const id = await readyRecording('ret-old-processing', callStarted(40));
    await env.DB.prepare("update recordings set status = 'processing' where id = ?").bind(id).run();
    await runDaily(db, r2, config, new Date(), quiet);
    expect((await rowOf(id))?.deleted_at).toBeNull();
    await runDaily(db, r2, config, new Date(Date.now() + 2 * DAY), quiet);
    expect((await rowOf(id))?.status).toBe('deleted');
  });

  it('tiers by the call’s age: a call of 10 days ago uploaded today goes to cool at once', async () => {
    const tiering = parseConfig({ ...env, RETENTION_DAYS_RECORDING: '400', ARCHIVAL_ENABLED: 'true', KEY_ROTATION_DAYS: '3650' });
    const old = await readyRecording('tier-old-call', callStarted(10));
    const recent = await readyRecording('tier-recent-call', callStarted(6));
    await runDaily(db, r2, tiering, new Date(), quiet);
    const tier = async (id: string) => (await env.DB.prepare('select storage_tier as t from recordings where id = ?').bind(id).first<{ t: string }>())!.t;
    expect(await tier(old)).toBe('cool');
    expect((await env.RECORDINGS.head(originalKey(old)))?.customMetadata?.tier).toBe('cool');
    expect(await tier(recent)).toBe('hot');
  });

  it('the retention and tiering scans are served by the start_time indexes', async () => {
    const queries: { sql: string; params: unknown[] }[] = [];
    const logged = drizzle(env.DB, { schema, logger: { logQuery: (sql, params) => void queries.push({ sql, params }) } });
    const now = Date.now();
    const iso = (offset: number) => new Date(now + offset).toISOString();
    await expiredRecordings(logged, iso(-30 * DAY), iso(-2 * DAY), `${iso(-40 * DAY)}|rec_0`, 100);
    await tieringCandidates(logged, { cool: iso(-7 * DAY), cold: iso(-30 * DAY), archive: iso(-90 * DAY) }, null, 100);
    const plans = await Promise.all(
      queries.map(async ({ sql, params }) => (await env.DB.prepare(`explain query plan ${sql}`).bind(...params).all<{ detail: string }>()).results.map((r) => r.detail).join('\n')),
    );
    expect(plans[0]).toMatch(/SEARCH recordings USING INDEX recordings_status_start_idx \(status=\? AND start_time<\?\)/);
    expect(plans[1]).toMatch(/SEARCH recordings USING INDEX recordings_tier_start_idx \(storage_tier=\? AND start_time<\?\)/);
    expect(plans.join('\n')).not.toMatch(/SCAN recordings(?! USING)/);
  });
});

/** R2 whose deletes stop answering after `okDeletes`: the isolate dies mid-batch. */
function dyingStore(okDeletes: number): BlobStore {
  let deletes = 0;
  return Object.assign(Object.create(r2) as BlobStore, {
    delete: (key: string) => (++deletes > okDeletes ? new Promise<void>(() => {}) : r2.delete(key)),
  });
}

/** R2 whose deletes fail as an outage after `okDeletes`. */
function failingStore(okDeletes: number): BlobStore {
  let deletes = 0;
  return Object.assign(Object.create(r2) as BlobStore, {
    delete: async (key: string) => {
      if (++deletes > okDeletes) throw new StorageUnavailable('R2 delete failed');
      await r2.delete(key);
    },
  });
}

describe('interruption', () => {
  it('a run killed midway loses nothing; the rerun finishes without repeating a deletion', async () => {
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await readyRecording(`ret-crash-${i}`));
    const held = await readyRecording('ret-crash-held');
    await call(`/api/v1/lifecycle/${held}/legal-hold`, { method: 'POST', headers: await as('ret-admin', 'admin') });
    const later = new Date(Date.now() + 31 * DAY);

    const killed = runDaily(db, dyingStore(1), config, later, { ...quiet, limits: { batchSize: 2, maxBatches: 10 } });
    const outcome = await Promise.race([killed.then(() => 'finished'), new Promise((r) => setTimeout(() => r('killed'), 1500))]);
    expect(outcome).toBe('killed');
    // The first page was anonymized in one transaction; its second recording's objects were never deleted.
    expect((await rowOf(ids[0]!))?.object_key).toBeNull();
    const midway = (await rowOf(ids[1]!))!;
    expect(midway.status).toBe('deleted');
    expect(midway.object_key).not.toBeNull();
    expect(await env.RECORDINGS.head(originalKey(ids[1]!))).not.toBeNull();
    expect((await rowOf(ids[2]!))?.deleted_at).toBeNull();

    const rerun = await runDaily(db, r2, config, later, quiet);
    expect(rerun.jobs.retention).toMatchObject({ deleted: 2 });
    // The tombstone left midway is finished by the hourly run (an hour later, so no request is racing it).
    const hourly = await runHourly(db, r2, config, new Date(later.getTime() + 2 * 3_600_000), quiet);
    expect(hourly.jobs.deletions).toMatchObject({ finished: 1, failed: 0 });
    for (const id of ids) {
      const row = (await rowOf(id))!;
      expect(row.status).toBe('deleted');
      expect(row.object_key).toBeNull();
      expect(row.caller_phone).toBe(await anonymizePhone(TEST_SECRETS.MASTER_ENCRYPTION_KEY, fields.callerPhone));
      expect(await env.RECORDINGS.head(originalKey(id))).toBeNull();
      expect(await retentionAudits(id)).toBe(1);
    }
    expect((await rowOf(held))?.deleted_at).toBeNull();
  });

  it('a storage outage fails the run, with a summary audit event, and the next run completes it', async () => {
    const ids = [await readyRecording('ret-outage-0'), await readyRecording('ret-outage-1')];
    const later = new Date(Date.now() + 31 * DAY);
    await expect(runDaily(db, failingStore(1), config, later, quiet)).rejects.toThrow(/retention/);
    await settleAudit();
    const summary = await env.DB.prepare("select actor, outcome, details from audit_events where action = 'lifecycle.daily' order by at desc limit 1").first<{ actor: string; outcome: string; details: string }>();
    expect(summary).toMatchObject({ actor: 'system:cron', outcome: 'failure' });
    expect(JSON.parse(summary!.details).errors[0]).toMatchObject({ job: 'retention', error: { errorName: 'StorageUnavailable' } });

    await runDaily(db, r2, config, later, quiet);
    await runHourly(db, r2, config, new Date(later.getTime() + 2 * 3_600_000), quiet);
    for (const id of ids) {
      expect((await rowOf(id))?.object_key).toBeNull();
      expect(await env.RECORDINGS.head(originalKey(id))).toBeNull();
      expect(await retentionAudits(id)).toBe(1);
    }
  });
});

describe('retention of transcripts', () => {
  it('deletes transcripts older than RETENTION_DAYS_TRANSCRIPT, never a held one; the audio goes first', async () => {
    const base = Date.now();
    const old = await readyRecording('tr-old');
    const held = await readyRecording('tr-held');
    const recent = await readyRecording('tr-recent');
    await addTranscript(old, new Date(base));
    await addTranscript(held, new Date(base));
    await addTranscript(recent, new Date(base + 300 * DAY));
    await call(`/api/v1/lifecycle/${held}/legal-hold`, { method: 'POST', headers: await as('ret-admin', 'admin') });
    const count = async (id: string) => (await env.DB.prepare('select count(*) as n from transcripts where recording_id = ?').bind(id).first<{ n: number }>())!.n;

    // After 31 days the audio is gone but the transcript is kept until its own retention.
    await runDaily(db, r2, config, new Date(base + 31 * DAY), quiet);
    expect((await rowOf(old))?.status).toBe('deleted');
    expect(await count(old)).toBe(1);

    const summary = await runDaily(db, r2, config, new Date(base + 366 * DAY), quiet);
    expect(summary.jobs.transcripts).toEqual({ deleted: 1 });
    expect(await count(old)).toBe(0);
    expect(await count(held)).toBe(1);
    expect(await count(recent)).toBe(1);
  });
});

describe('summary', () => {
  it('each run writes one summary audit event by system:cron with the counts', async () => {
    await readyRecording('sum-user');
    await settleAudit();
    const before = (await env.DB.prepare("select count(*) as n from audit_events where action = 'lifecycle.daily'").first<{ n: number }>())!.n;
    await runDaily(db, r2, config, new Date(Date.now() + 31 * DAY), quiet);
    await settleAudit();
    const events = await env.DB.prepare("select actor, actor_role, outcome, details from audit_events where action = 'lifecycle.daily' order by at").all<{ actor: string; actor_role: string; outcome: string; details: string }>();
    expect(events.results).toHaveLength(before + 1);
    const last = events.results.at(-1)!;
    expect(last).toMatchObject({ actor: 'system:cron', actor_role: 'system', outcome: 'success' });
    const details = JSON.parse(last.details);
    expect(details.run).toBe('daily');
    expect(details.jobs.retention.deleted).toBe(1);
    expect(details.jobs).toHaveProperty('transcripts');
    expect(details.jobs).toHaveProperty('tiering');
    expect(details.jobs).toHaveProperty('keys');
    expect((await call('/api/v1/audit/checkpoints', { method: 'POST', headers: await as('sum-admin', 'admin') })).status).toBe(201);
    const verify = (await (await call('/api/v1/audit/verify', { headers: await as('sum-admin', 'admin') })).json()) as { ok: boolean };
    expect(verify.ok).toBe(true);
  });
});
