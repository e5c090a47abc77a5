/**
 * The cron runs in the Workers runtime with the clock moved forward: tier transitions by age,
 * asynchronous restores completed by the hourly run, stale multipart uploads aborted, interrupted
 * deletions finished, key rotation and rewrap, and the `scheduled` entry itself.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DAILY_CRON, HOURLY_CRON, runDaily, runHourly, runScheduled } from '../../src/compliance/scheduled';
import { archiveRecording, restoreRecording } from '../../src/compliance/tiering';
import { auditLedger } from '../../src/compliance/audit-log';
import { parseConfig } from '../../src/config';
import { createDb } from '../../src/db/client';
import { findRecording } from '../../src/db/recordings';
import type { BlobStore, StorageTier } from '../../src/storage/blob-store';
import { R2BlobStore } from '../../src/storage/r2';
import { settleAudit } from '../support/audit';
import { as, call } from '../support/auth';
import { withMagic } from '../support/audio';
import { bytesOf, equalBytes, uploadOk } from '../support/recordings';

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** Retention far away, so that only tiering moves anything; no key rotation unless a test asks. */
const config = parseConfig({ ...env, RETENTION_DAYS_RECORDING: '400', KEY_ROTATION_DAYS: '3650', ARCHIVAL_ENABLED: 'true' });
const db = createDb(env.DB);
const r2 = new R2BlobStore(env.RECORDINGS);
const quiet = { ledger: auditLedger(env, config), log: { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet.log; } } };
const at = (offset: number) => new Date(Date.now() + offset);

async function recording(owner: string, status: 'ready' | 'failed' | 'processing' | 'recording' = 'ready', bytes = withMagic('ogg', 30_000)) {
  const { id } = await uploadOk(owner, bytes);
  await env.DB.prepare('update recordings set status = ? where id = ?').bind(status, id).run();
  return { id, bytes };
}

async function tierOf(id: string): Promise<{ row: string; object: string | undefined; pending: string | null }> {
  const row = (await env.DB.prepare('select storage_tier, pending_tier from recordings where id = ?').bind(id).first<{ storage_tier: string; pending_tier: string | null }>())!;
  const head = await env.RECORDINGS.head(`recordings/${id}/original.enc`);
  return { row: row.storage_tier, object: head?.customMetadata?.tier, pending: row.pending_tier };
}

describe('tiering by age', () => {
  it('moves settled recordings hot → cool → cold → archive as they age, never one being recorded or processed', async () => {
    const ready = await recording('tier-a');
    const failed = await recording('tier-b', 'failed');
    const processing = await recording('tier-c', 'processing');
    const live = await recording('tier-d', 'recording');

    await runDaily(db, r2, config, at(6 * DAY), quiet);
    expect((await tierOf(ready.id)).row).toBe('hot');

    const cool = await runDaily(db, r2, config, at(8 * DAY), quiet);
    expect(cool.jobs.tiering).toMatchObject({ moved: { cool: 2, cold: 0, archive: 0 }, failed: 0 });
    expect(await tierOf(ready.id)).toEqual({ row: 'cool', object: 'cool', pending: null });
    expect((await tierOf(failed.id)).row).toBe('cool');

    await runDaily(db, r2, config, at(31 * DAY), quiet);
    expect(await tierOf(ready.id)).toEqual({ row: 'cold', object: 'cold', pending: null });
    // Cool and cold are still readable.
    expect((await call(`/api/v1/recordings/${ready.id}/download`, { headers: await as('tier-a') })).status).toBe(200);

    await runDaily(db, r2, config, at(91 * DAY), quiet);
    expect(await tierOf(ready.id)).toEqual({ row: 'archive', object: 'archive', pending: null });
    expect((await call(`/api/v1/recordings/${ready.id}/download`, { headers: await as('tier-a') })).status).toBe(409);

    for (const id of [processing.id, live.id]) expect(await tierOf(id)).toEqual({ row: 'hot', object: 'hot', pending: null });
  });

  it('goes straight to the coldest tier due, and does nothing when ARCHIVAL_ENABLED is false', async () => {
    const { id } = await recording('tier-skip');
    const disabled = parseConfig({ ...env, RETENTION_DAYS_RECORDING: '400', KEY_ROTATION_DAYS: '3650', ARCHIVAL_ENABLED: 'false' });
    const off = await runDaily(db, r2, disabled, at(100 * DAY), quiet);
    expect(off.jobs.tiering).toMatchObject({ scanned: 0 });
    expect((await tierOf(id)).row).toBe('hot');
    await runDaily(db, r2, config, at(100 * DAY), quiet);
    expect(await tierOf(id)).toEqual({ row: 'archive', object: 'archive', pending: null });
  });

  it('resumes a pass from its cursor across runs', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await recording(`tier-batch-${i}`)).id);
    // Everything older in this file is already archived: only these three are candidates.
    const first = await runDaily(db, r2, config, at(200 * DAY), { ...quiet, limits: { batchSize: 1, maxBatches: 2 } });
    expect(first.jobs.tiering).toMatchObject({ scanned: 2, passComplete: false });
    const second = await runDaily(db, r2, config, at(200 * DAY), { ...quiet, limits: { batchSize: 1, maxBatches: 2 } });
    expect(second.jobs.tiering).toMatchObject({ scanned: 1, passComplete: true });
    for (const id of ids) expect((await tierOf(id)).row).toBe('archive');
  });
  it('a restored recording ages again from its restore instead of going straight back to the archive', async () => {
    const { id } = await recording('tier-restored');
    await runDaily(db, r2, config, at(95 * DAY), quiet);
    expect((await tierOf(id)).row).toBe('archive');
    const restoredAt = at(95 * DAY);
    const outcome = await restoreRecording({ db, store: r2 }, (await findRecording(db, id))!, 'tier-restored', restoredAt);
    expect(outcome).toMatchObject({ pending: false, row: { storageTier: 'hot' } });

    await runDaily(db, r2, config, at(96 * DAY), quiet);
    expect((await tierOf(id)).row).toBe('hot');
    await runDaily(db, r2, config, at(95 * DAY + 8 * DAY), quiet);
    expect((await tierOf(id)).row).toBe('cool');
  });

});

/**
 * R2 behaving like S3 Glacier or Azure Archive: leaving the archive is a restore the provider
 * finishes later. `finish()` is the provider finishing it.
 */
function slowRestoreStore(): BlobStore & { finish(): void } {
  const restoring = new Set<string>();
  const restored = new Set<string>();
  return Object.assign(Object.create(r2) as BlobStore, {
    async head(key: string) {
      const head = await r2.head(key);
      return head && { ...head, restoring: restoring.has(key) };
    },
    async setTier(key: string, tier: StorageTier) {
      const head = await r2.head(key);
      if (head?.tier === 'archive' && tier !== 'archive' && !restored.has(key)) {
        restoring.add(key);
        return { pending: true };
      }
      return r2.setTier(key, tier);
    },
    finish() {
      for (const key of restoring) restored.add(key);
      restoring.clear();
    },
  });
}

describe('asynchronous restores', () => {
  it('a pending restore keeps audio refused until the hourly run finds it done', async () => {
    const owner = 'restore-slow';
    const { id, bytes } = await recording(owner);
    const store = slowRestoreStore();
    await archiveRecording({ db, store }, (await findRecording(db, id))!, new Date());

    const outcome = await restoreRecording({ db, store }, (await findRecording(db, id))!, owner, new Date());
    expect(outcome.pending).toBe(true);
    expect(await tierOf(id)).toEqual({ row: 'archive', object: 'archive', pending: 'hot' });
    const refused = await call(`/api/v1/recordings/${id}/download`, { headers: await as(owner) });
    expect(refused.status).toBe(409);

    const waiting = await runHourly(db, store, config, at(HOUR), quiet);
    expect(waiting.jobs.restores).toMatchObject({ completed: 0, stillPending: 1 });
    expect((await tierOf(id)).pending).toBe('hot');

    store.finish();
    const done = await runHourly(db, store, config, at(2 * HOUR), quiet);
    expect(done.jobs.restores).toMatchObject({ completed: 1, stillPending: 0 });
    expect(await tierOf(id)).toEqual({ row: 'hot', object: 'hot', pending: null });
    await settleAudit();
    const events = await env.DB.prepare("select actor from audit_events where recording_id = ? and action = 'recording.restore_completed'").bind(id).all<{ actor: string }>();
    expect(events.results).toEqual([{ actor: 'system:cron' }]);
    const download = await call(`/api/v1/recordings/${id}/download`, { headers: await as(owner) });
    expect(download.status).toBe(200);
    expect(equalBytes(await bytesOf(download), bytes)).toBe(true);
  });
});

describe('stale multipart uploads', () => {
  it('aborts uploads older than a day (or the longest live call) and forgets them', async () => {
    const key = `recordings/stale-${crypto.randomUUID()}/original.enc`;
    const upload = await r2.createMultipart(key);
    const part = await upload.uploadPart(1, new Uint8Array(1000));
    const startedAt = new Date().toISOString();
    await env.DB.prepare('insert into open_uploads (upload_id, object_key, started_at) values (?, ?, ?)').bind(upload.uploadId, key, startedAt).run();
    // An upload the provider no longer knows, older than the 7 days after which it discards them anyway.
    await env.DB.prepare("insert into open_uploads (upload_id, object_key, started_at) values ('gone-upload', 'recordings/gone/original.enc', ?)")
      .bind(new Date(Date.now() - 9 * DAY).toISOString())
      .run();
    const openRows = async () => (await env.DB.prepare('select upload_id from open_uploads order by upload_id').all<{ upload_id: string }>()).results.map((r) => r.upload_id);

    const longCalls = parseConfig({ ...env, LIVE_MAX_DURATION_HOURS: '48' });
    const early = await runHourly(db, r2, longCalls, at(25 * HOUR), quiet);
    expect(early.jobs.staleUploads).toMatchObject({ aborted: 0, forgotten: 1 });
    expect(await openRows()).toEqual([upload.uploadId]);

    const late = await runHourly(db, r2, config, at(25 * HOUR), quiet);
    expect(late.jobs.staleUploads).toMatchObject({ aborted: 1, failed: 0 });
    expect(await openRows()).toEqual([]);
    await expect(r2.resumeMultipart(key, upload.uploadId).complete([part])).rejects.toThrow();
    expect(await env.RECORDINGS.head(key)).toBeNull();
  });
});

describe('interrupted deletions', () => {
  it('the hourly run finishes a DELETE that stopped after hiding the recording, with the code DELETE runs', async () => {
    const { id } = await recording('finish-delete');
    const recent = await recording('finish-recent');
    const now = new Date();
    await env.DB.prepare('update recordings set deleted_at = ? where id in (?, ?)').bind(now.toISOString(), id, recent.id).run();
    await env.DB.prepare('update recordings set deleted_at = ? where id = ?').bind(new Date(now.getTime() + 90 * 60_000).toISOString(), recent.id).run();

    const summary = await runHourly(db, r2, config, at(2 * HOUR), quiet);
    expect(summary.jobs.deletions).toMatchObject({ finished: 1, failed: 0 });
    expect(await env.DB.prepare('select id from recordings where id = ?').bind(id).first()).toBeNull();
    expect(await env.RECORDINGS.head(`recordings/${id}/original.enc`)).toBeNull();
    await settleAudit();
    const event = await env.DB.prepare("select actor, details from audit_events where recording_id = ? and action = 'recording.delete'").bind(id).first<{ actor: string; details: string }>();
    expect(event?.actor).toBe('system:cron');
    expect(JSON.parse(event!.details)).toMatchObject({ finishedAfterInterruption: true });
    // Hidden less than an hour before the run: a request may still be deleting it.
    expect(await env.RECORDINGS.head(`recordings/${recent.id}/original.enc`)).not.toBeNull();
  });
});

describe('the scheduled handler', () => {
  it('runs the daily and the hourly jobs by cron expression, each writing its summary event', async () => {
    for (const [cron, action] of [[DAILY_CRON, 'lifecycle.daily'], [HOURLY_CRON, 'lifecycle.hourly']] as const) {
      const scheduledTime = Date.now();
      const ctx = createExecutionContext();
      await runScheduled(createScheduledController({ cron, scheduledTime }), env, ctx);
      await waitOnExecutionContext(ctx);
      await settleAudit();
      const event = await env.DB.prepare('select actor, outcome, details from audit_events where action = ? order by at desc limit 1').bind(action).first<{ actor: string; outcome: string; details: string }>();
      expect(event).toMatchObject({ actor: 'system:cron', outcome: 'success' });
      expect(JSON.parse(event!.details).scheduledTime).toBe(new Date(scheduledTime).toISOString());
    }
  });

  it('refuses a cron expression it has no run for', async () => {
    await expect(runScheduled(createScheduledController({ cron: '*/5 * * * *', scheduledTime: Date.now() }), env, createExecutionContext())).rejects.toThrow(/No scheduled run/);
  });
});

describe('key rotation', () => {
  it('rotates keys older than KEY_ROTATION_DAYS and rewraps every recording, users rotating at different times', async () => {
    const rotating = parseConfig({ ...env, RETENTION_DAYS_RECORDING: '400', KEY_ROTATION_DAYS: '30', ARCHIVAL_ENABLED: 'false' });
    const first = await recording('keys-early');
    const firstRun = await runDaily(db, r2, rotating, at(31 * DAY), quiet);
    expect(firstRun.errors).toEqual([]);
    expect((firstRun.jobs.keys as { rotated: number }).rotated).toBeGreaterThanOrEqual(1);

    const second = await recording('keys-late');
    const secondRun = await runDaily(db, r2, rotating, at(62 * DAY), quiet);
    expect(secondRun.errors).toEqual([]);
    const versions = async (id: string) => (await env.DB.prepare('select key_version as v from recordings where id = ?').bind(id).first<{ v: number }>())!.v;
    expect(await versions(first.id)).toBe(3);
    expect(await versions(second.id)).toBe(2);
    for (const [id, owner, bytes] of [[first.id, 'keys-early', first.bytes], [second.id, 'keys-late', second.bytes]] as const) {
      const res = await call(`/api/v1/recordings/${id}/download`, { headers: await as(owner) });
      expect(res.status).toBe(200);
      expect(equalBytes(await bytesOf(res), bytes)).toBe(true);
    }
  });
});
