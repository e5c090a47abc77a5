/**
 * DELETE and a legal hold raced against each other, 200 times, through the app in workerd: the
 * hold check and the tombstone are one conditional statement, so exactly one of them wins (a hold
 * that took effect is never followed by the deletion), and a held recording keeps every byte.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getConfig } from '../../src/config';
import { createDb } from '../../src/db/client';
import { findRecording } from '../../src/db/recordings';
import { uploadRaw as storeUpload } from '../../src/recordings/upload';
import { createBlobStore } from '../../src/storage/select';
import { as, call } from '../support/auth';
import { withMagic } from '../support/audio';
import { bytesOf, equalBytes, fields, uploadServiceDeps } from '../support/recordings';

const RACES = 200;
const owner = 'race-owner';
const admin = 'race-admin';
const config = getConfig(env);
const db = createDb(env.DB);
const store = createBlobStore(env, config);
/** Stored through the upload service with a queue that keeps its messages: no processing job races the test. */
const deps = uploadServiceDeps(db, store, config, { send: async () => undefined, sendBatch: async () => undefined } as unknown as Queue);

describe('DELETE raced against a legal hold', () => {
  it(`never lets both succeed in ${RACES} races, and a held recording's bytes stay intact`, async () => {
    const [ownerHeaders, adminHeaders] = [await as(owner), await as(admin, 'admin')];
    const audio = withMagic('wav', 3000);
    const outcomes = { deleted: 0, held: 0 };
    for (let race = 0; race < RACES; race++) {
      const { id } = await storeUpload(deps, owner, fields, new Response(audio.slice()).body!);
      const row = (await findRecording(db, id))!;
      const stored = new Uint8Array(await (await env.RECORDINGS.get(row.objectKey!))!.arrayBuffer());
      // One side starts 0–9 D1 round trips after the other, alternating which, so that every
      // interleaving of one request's "read the row" and "write the row" with the other's comes up.
      // (Timers are no use: workerd's clock stands still between I/O.)
      const lag = (race >> 1) % 10;
      const after = async (roundTrips: number) => {
        for (let i = 0; i < roundTrips; i++) await env.DB.prepare('select 1').first();
      };
      const remove = async () => {
        if (race % 2 === 1) await after(lag);
        return call(`/api/v1/recordings/${id}`, { method: 'DELETE', headers: ownerHeaders });
      };
      const hold = async () => {
        if (race % 2 === 0) await after(lag);
        return call(`/api/v1/lifecycle/${id}/legal-hold`, { method: 'POST', headers: { ...adminHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ reason: `race ${race}` }) });
      };
      const [deleted, held] = await Promise.all([remove(), hold()]);
      const statuses = `race ${race}: DELETE ${deleted!.status}, hold ${held!.status}`;
      expect(deleted!.status === 204 && held!.status === 200, statuses).toBe(false);
      if (deleted!.status === 204) {
        expect(held!.status, statuses).toBe(404);
        expect(await findRecording(db, id)).toBeUndefined();
        // No hold ever took effect on what was deleted: a hold written between DELETE's read and
        // its tombstone (what the unconditional tombstone let through) leaves its history row.
        expect(await env.DB.prepare('select count(*) n from legal_holds where recording_id = ?').bind(id).first('n'), statuses).toBe(0);
        outcomes.deleted++;
        continue;
      }
      expect([deleted!.status, held!.status], statuses).toEqual([409, 200]);
      const now = await findRecording(db, id);
      expect(now?.legalHold).toBe(true);
      const object = await env.RECORDINGS.get(now!.objectKey!);
      expect(object, statuses).not.toBeNull();
      expect(equalBytes(new Uint8Array(await object!.arrayBuffer()), stored), statuses).toBe(true);
      const download = await call(`/api/v1/recordings/${id}/download`, { headers: ownerHeaders });
      expect(download.status).toBe(200);
      expect(equalBytes(await bytesOf(download), audio)).toBe(true);
      outcomes.held++;
    }
    expect(outcomes.deleted + outcomes.held).toBe(RACES);
    console.info(`legal-hold race: ${JSON.stringify(outcomes)}`);
    // Both outcomes came up, so both orders were really raced.
    expect(outcomes.deleted).toBeGreaterThan(0);
    expect(outcomes.held).toBeGreaterThan(0);
  }, 600_000);
});
