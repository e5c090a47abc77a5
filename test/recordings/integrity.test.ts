import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client';
import { concatBytes } from '../../src/encoding';
import { destroyUserKeys, rewrapRecordings, rotateUserKeys } from '../../src/crypto/keys';
import { settleAudit } from '../support/audit';
import { as, call } from '../support/auth';
import { randomBytes, withMagic } from '../support/audio';
import { TEST_SECRETS } from '../support/secrets';
import { bytesOf, equalBytes, uploadOk } from '../support/recordings';

const CHUNK = 16384;
const SEALED = 16400;
const HEADER = 56;

async function storedObject(id: string): Promise<Uint8Array> {
  return new Uint8Array(await (await env.RECORDINGS.get(`recordings/${id}/original.enc`))!.arrayBuffer());
}
async function replaceObject(id: string, bytes: Uint8Array) {
  await env.RECORDINGS.put(`recordings/${id}/original.enc`, bytes);
}
async function fresh(user: string, size = 5 * CHUNK + 100) {
  const plain = withMagic('wav', size);
  plain.set(randomBytes(size - 12), 12);
  return { plain, id: (await uploadOk(user, plain)).id };
}
async function expectIntegrityError(res: Response) {
  expect(res.status).toBe(500);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('integrity_error');
}

describe('tampered ciphertext', () => {
  it('fails with integrity_error on a flipped bit, and still serves ranges that do not touch it', async () => {
    const user = 'tamper-bit';
    const { plain, id } = await fresh(user);
    const object = await storedObject(id);
    object[HEADER + 2 * SEALED + 10]! ^= 1;
    await replaceObject(id, object);
    await expectIntegrityError(await call(`/api/v1/recordings/${id}/stream`, { headers: { ...(await as(user)), range: `bytes=${2 * CHUNK}-${2 * CHUNK + 5}` } }));
    const ok = await call(`/api/v1/recordings/${id}/stream`, { headers: { ...(await as(user)), range: 'bytes=0-99' } });
    expect(equalBytes(await bytesOf(ok), plain.subarray(0, 100))).toBe(true);
    await settleAudit();
    const events = (await (await call(`/api/v1/audit?recordingId=${id}&action=recording.integrity_failure`, { headers: await as('boss', 'admin') })).json()) as { items: unknown[] };
    expect(events.items.length).toBeGreaterThan(0);
  });

  it('fails on reordered chunks, a dropped chunk, truncation and trailing data', async () => {
    const user = 'tamper-shape';
    const { id } = await fresh(user);
    const original = await storedObject(id);
    const chunk = (k: number) => original.subarray(HEADER + k * SEALED, HEADER + (k + 1) * SEALED);
    const join = (...parts: Uint8Array[]) => concatBytes(parts);
    const header = original.subarray(0, HEADER);
    const rest = original.subarray(HEADER + 2 * SEALED);
    const variants: Record<string, Uint8Array> = {
      reordered: join(header, chunk(1), chunk(0), rest),
      dropped: join(header, chunk(0), original.subarray(HEADER + 2 * SEALED)),
      truncated: original.subarray(0, HEADER + 5 * SEALED),
      extended: join(original, new Uint8Array(100)),
    };
    for (const [name, bytes] of Object.entries(variants)) {
      await replaceObject(id, bytes);
      const res = await call(`/api/v1/recordings/${id}/download`, { headers: await as(user) });
      if (res.status === 200) {
        // A bad middle chunk can only surface mid-body: the body must then error, never complete.
        await expect(bytesOf(res), name).rejects.toThrow();
      } else {
        expect(res.status, name).toBe(500);
        await expectIntegrityError(res);
      }
      if (name === 'truncated' || name === 'extended') {
        // The size check fails even a range far from the damage, before a byte is sent.
        await expectIntegrityError(await call(`/api/v1/recordings/${id}/stream`, { headers: { ...(await as(user)), range: 'bytes=0-9' } }));
      }
    }
    await replaceObject(id, original);
  });

  it('fails a suffix range on a truncated object before sending a byte', async () => {
    const user = 'tamper-suffix';
    const { id } = await fresh(user);
    const original = await storedObject(id);
    await replaceObject(id, original.subarray(0, original.length - 50));
    await expectIntegrityError(await call(`/api/v1/recordings/${id}/stream`, { headers: { ...(await as(user)), range: `bytes=-${3 * CHUNK}` } }));
  });

  it('fails when objects are swapped between two recordings of the same user', async () => {
    const user = 'tamper-swap';
    const a = await fresh(user);
    const b = await fresh(user);
    await replaceObject(a.id, await storedObject(b.id));
    await expectIntegrityError(await call(`/api/v1/recordings/${a.id}/download`, { headers: await as(user) }));
  });
});

describe('keys', () => {
  it('keeps old recordings readable across rotation, rewraps them without touching audio, and crypto-shreds', async () => {
    const user = 'rotating-user';
    const db = createDb(env.DB);
    const before = await fresh(user, 3000);
    const objectBefore = await storedObject(before.id);
    const rotated = await rotateUserKeys(db, TEST_SECRETS.MASTER_ENCRYPTION_KEY, 30, new Date(Date.now() + 31 * 86_400_000), 100);
    expect(rotated).toBeGreaterThan(0);
    const after = await fresh(user, 3000);
    const versions = await env.DB.prepare('select id, key_version as v from recordings where id in (?, ?)').bind(before.id, after.id).all<{ id: string; v: number }>();
    const version = Object.fromEntries(versions.results.map((r) => [r.id, r.v]));
    expect(version[after.id]).toBeGreaterThan(version[before.id]!);
    expect(equalBytes(await bytesOf(await call(`/api/v1/recordings/${before.id}/download`, { headers: await as(user) })), before.plain)).toBe(true);
    while ((await rewrapRecordings(db, TEST_SECRETS.MASTER_ENCRYPTION_KEY, 50)).remaining);
    const rewrapped = await env.DB.prepare('select key_version as v from recordings where id = ?').bind(before.id).first<{ v: number }>();
    expect(rewrapped!.v).toBe(version[after.id]);
    expect(equalBytes(await storedObject(before.id), objectBefore)).toBe(true);
    expect(equalBytes(await bytesOf(await call(`/api/v1/recordings/${before.id}/download`, { headers: await as(user) })), before.plain)).toBe(true);

    await destroyUserKeys(db, user);
    const shredded = await call(`/api/v1/recordings/${after.id}/download`, { headers: await as(user) });
    expect(shredded.status).toBe(404);
  });

  it('fails cleanly when the stored key version is wrong', async () => {
    const user = 'wrong-version';
    const { id } = await fresh(user, 2000);
    await env.DB.prepare('update recordings set key_version = key_version + 7 where id = ?').bind(id).run();
    const res = await call(`/api/v1/recordings/${id}/download`, { headers: await as(user) });
    expect([404, 500]).toContain(res.status);
    expect(JSON.stringify(await res.json())).not.toMatch(/stack|MASTER/);
  });
});
