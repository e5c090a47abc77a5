/**
 * The other destructive paths raced against placing a legal hold (DELETE has its own race,
 * legal-hold-race.test.ts): retention's deletion by the daily cron, GDPR erasure, and the
 * destruction of a redaction's unredacted original. Each is a conditional statement
 * (`legal_hold = 0` at that instant), so a hold that took effect first always wins: a held
 * recording is never deleted, erased or stripped of its original. Many races each, one side
 * started 0–9 D1 round trips after the other, alternating which.
 */
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { destroyUnheldOriginals } from '../../src/compliance/legal-hold';
import { eraseSubject } from '../../src/compliance/gdpr';
import { deleteExpiredRecordings } from '../../src/compliance/retention';
import type { JobOptions } from '../../src/compliance/job';
import { getConfig } from '../../src/config';
import { createDb } from '../../src/db/client';
import { findRecording } from '../../src/db/recordings';
import { uploadRaw as storeUpload } from '../../src/recordings/upload';
import { createBlobStore } from '../../src/storage/select';
import { objectPrefixFor } from '../../src/storage/object-keys';
import { as, call } from '../support/auth';
import { withMagic } from '../support/audio';
import { equalBytes, fields, uploadServiceDeps } from '../support/recordings';

const RACES = 200;
const DAY = 86_400_000;
const config = getConfig(env);
const db = createDb(env.DB);
const store = createBlobStore(env, config);
/** Stored through the upload service with a queue that keeps its messages: no processing job races the test. */
const deps = uploadServiceDeps(db, store, config, { send: async () => undefined, sendBatch: async () => undefined } as unknown as Queue);
const audio = withMagic('wav', 3000);
const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const job: JobOptions = { limits: { batchSize: 10, maxBatches: 5 }, log: silent, audit: async () => undefined, emit: async () => undefined };

let adminHeaders: Record<string, string>;
beforeAll(async () => {
  adminHeaders = { ...(await as('race-admin', 'admin')), 'content-type': 'application/json' };
});

/** `roundTrips` D1 round trips of nothing: workerd's clock stands still between I/O, so timers cannot stagger the two sides. */
async function after(roundTrips: number): Promise<void> {
  for (let i = 0; i < roundTrips; i++) await env.DB.prepare('select 1').first();
}

/**
 * Runs `destroy` and a hold on `id` at once, one side delayed by 0–9 round trips (which side
 * alternates with `race`), so that every interleaving of one's "read" and "write" with the
 * other's comes up.
 */
async function race<T>(raceNumber: number, id: string, destroy: () => Promise<T>): Promise<{ destroyed: T; hold: Response }> {
  const lag = (raceNumber >> 1) % 10;
  const [destroyed, hold] = await Promise.all([
    (async () => {
      if (raceNumber % 2 === 1) await after(lag);
      return destroy();
    })(),
    (async () => {
      if (raceNumber % 2 === 0) await after(lag);
      return call(`/api/v1/lifecycle/${id}/legal-hold`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ reason: `race ${raceNumber}` }) });
    })(),
  ]);
  return { destroyed, hold };
}

async function upload(owner: string, startTime = fields.startTime): Promise<{ id: string; objectKey: string; stored: Uint8Array }> {
  const { id } = await storeUpload(deps, owner, { ...fields, startTime }, new Response(audio.slice()).body!);
  const row = (await findRecording(db, id))!;
  const stored = new Uint8Array(await (await env.RECORDINGS.get(row.objectKey!))!.arrayBuffer());
  return { id, objectKey: row.objectKey!, stored };
}

/** The recording is held, live, and its stored original is byte for byte what was uploaded. */
async function expectHeldAndIntact(id: string, objectKey: string, stored: Uint8Array, what: string): Promise<void> {
  const now = await findRecording(db, id);
  expect(now?.legalHold, what).toBe(true);
  expect(now?.deletedAt, what).toBeNull();
  const object = await env.RECORDINGS.get(objectKey);
  expect(object, what).not.toBeNull();
  expect(equalBytes(new Uint8Array(await object!.arrayBuffer()), stored), what).toBe(true);
}

describe('destructive paths raced against a legal hold', () => {
  it(`retention (the daily cron's deletion) and a hold never both succeed in ${RACES} races`, async () => {
    const outcomes = { deleted: 0, held: 0 };
    const oldCall = new Date(Date.now() - 40 * DAY).toISOString();
    for (let n = 0; n < RACES; n++) {
      const { id, objectKey, stored } = await upload('race-retention', oldCall);
      // Retention takes live rows once processed (ready or failed); no job runs here, so it is marked ready.
      await env.DB.prepare("update recordings set status = 'ready' where id = ?").bind(id).run();
      const { destroyed: summary, hold } = await race(n, id, () => deleteExpiredRecordings({ db, store }, config, new Date(), job));
      const what = `race ${n}: retention deleted ${summary.deleted}, hold ${hold.status}`;
      expect(summary.deleted === 1 && hold.status === 200, what).toBe(false);
      if (summary.deleted === 1) {
        expect(hold.status, what).toBe(404);
        expect(await findRecording(db, id), what).toBeUndefined();
        expect(await env.RECORDINGS.get(objectKey), what).toBeNull();
        expect(await env.DB.prepare('select count(*) n from legal_holds where recording_id = ?').bind(id).first('n'), what).toBe(0);
        outcomes.deleted++;
      } else {
        expect([summary.deleted, hold.status], what).toEqual([0, 200]);
        await expectHeldAndIntact(id, objectKey, stored, what);
        outcomes.held++;
      }
    }
    console.info(`retention race: ${JSON.stringify(outcomes)}`);
    // Both outcomes came up, so both orders were really raced.
    expect(outcomes.deleted).toBeGreaterThan(0);
    expect(outcomes.held).toBeGreaterThan(0);
  }, 600_000);

  it(`GDPR erasure and a hold never both succeed in ${RACES} races`, async () => {
    const outcomes = { erased: 0, held: 0 };
    for (let n = 0; n < RACES; n++) {
      const subject = `race-gdpr-${n}`;
      const { id, objectKey, stored } = await upload(subject);
      const { destroyed: report, hold } = await race(n, id, () => eraseSubject({ db, store }, subject));
      const erased = report.deletedRecordings.includes(id);
      const what = `race ${n}: erased ${erased}, hold ${hold.status}`;
      expect(erased && hold.status === 200, what).toBe(false);
      if (erased) {
        expect(hold.status, what).toBe(404);
        expect(await findRecording(db, id), what).toBeUndefined();
        expect(await env.RECORDINGS.get(objectKey), what).toBeNull();
        expect(report.verification.keyDestroyed, what).toBe(true);
        outcomes.erased++;
      } else {
        expect(hold.status, what).toBe(200);
        expect(report.retainedRecordings, what).toEqual([{ id, reason: 'legal_hold' }]);
        await expectHeldAndIntact(id, objectKey, stored, what);
        // Still readable: the user's key was kept for the held recording.
        const download = await call(`/api/v1/recordings/${id}/download`, { headers: await as(subject) });
        expect(download.status, what).toBe(200);
        outcomes.held++;
      }
    }
    console.info(`erasure race: ${JSON.stringify(outcomes)}`);
    expect(outcomes.erased).toBeGreaterThan(0);
    expect(outcomes.held).toBeGreaterThan(0);
  }, 600_000);

  it(`redaction's destruction of the unredacted original never runs on a held recording in ${RACES} races`, async () => {
    // Each forgotten original is logged with its recording's hold flag at that very instant, by the database itself.
    await env.DB.prepare('create table race_forgotten (object_key text not null, held integer not null)').run();
    await env.DB.prepare(
      `create trigger race_forgotten_log before delete on redaction_originals
       begin insert into race_forgotten select old.object_key, legal_hold from recordings where id = old.recording_id; end`,
    ).run();
    const outcomes = { destroyed: 0, held: 0 };
    for (let n = 0; n < RACES; n++) {
      const { id } = await upload('race-redaction');
      // What a redaction leaves behind until it destroys it: the superseded original, named in redaction_originals.
      const original = `${objectPrefixFor(id)}original-r1-race.enc`;
      const unredacted = crypto.getRandomValues(new Uint8Array(2048));
      await env.RECORDINGS.put(original, unredacted);
      await env.DB.prepare(
        'insert into redaction_originals (object_key, recording_id, size, ciphertext_size, content_type, redaction, wrapped_data_key, key_version, created_at) values (?, ?, ?, ?, ?, 1, null, null, ?)',
      )
        .bind(original, id, 2000, unredacted.length, 'audio/wav', new Date().toISOString())
        .run();
      const { destroyed: keys, hold } = await race(n, id, () => destroyUnheldOriginals({ db, store }, id));
      const what = `race ${n}: destroyed ${keys.length}, hold ${hold.status}`;
      expect(hold.status, what).toBe(200);
      const forgottenWhileHeld = await env.DB.prepare('select count(*) n from race_forgotten where object_key = ? and held = 1').bind(original).first('n');
      expect(forgottenWhileHeld, what).toBe(0);
      if (keys.length === 1) {
        // Destroyed before the hold took effect: gone from storage and from the database.
        expect(await env.RECORDINGS.get(original), what).toBeNull();
        expect(await env.DB.prepare('select count(*) n from redaction_originals where object_key = ?').bind(original).first('n'), what).toBe(0);
        outcomes.destroyed++;
      } else {
        // The hold came first: the original is kept, byte for byte, and still named.
        expect(keys, what).toEqual([]);
        const kept = await env.RECORDINGS.get(original);
        expect(kept, what).not.toBeNull();
        expect(equalBytes(new Uint8Array(await kept!.arrayBuffer()), unredacted), what).toBe(true);
        expect(await env.DB.prepare('select count(*) n from redaction_originals where object_key = ?').bind(original).first('n'), what).toBe(1);
        outcomes.held++;
      }
    }
    console.info(`redaction race: ${JSON.stringify(outcomes)}`);
    expect(outcomes.destroyed).toBeGreaterThan(0);
    expect(outcomes.held).toBeGreaterThan(0);
  }, 600_000);
});
