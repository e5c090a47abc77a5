import { env } from 'cloudflare:test';
import { and, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client';
import { IntegrityError } from '../../src/crypto/aes-gcm';
import { deriveBytes, importMasterKey } from '../../src/crypto/derive';
import {
  KeyUnavailable,
  activeUserKey,
  destroyUserKeys,
  newDataKey,
  rewrapRecordings,
  rotateUserKeys,
  unwrapRecordingKey,
  userKeyDestroyed,
  wrapDataKey,
} from '../../src/crypto/keys';
import { recordings, userKeys } from '../../src/db/schema';
import { TEST_SECRETS } from '../support/secrets';

const db = createDb(env.DB);
const master = TEST_SECRETS.MASTER_ENCRYPTION_KEY;
const DAY = 86_400_000;
const newUser = () => `user_${crypto.randomUUID()}`;

/** A recording row whose data key is wrapped under the user's active key. */
async function storeRecording(userId: string): Promise<{ id: string; dataKey: Uint8Array; version: number; wrapped: Uint8Array }> {
  const id = `rec_${crypto.randomUUID()}`;
  const { version, key } = await activeUserKey(db, master, userId);
  const dataKey = newDataKey();
  const wrapped = await wrapDataKey(key, dataKey, id);
  const now = new Date().toISOString();
  await db.insert(recordings).values({
    id,
    callId: 'call_1',
    userId,
    startTime: now,
    format: 'webm',
    contentType: 'audio/webm',
    status: 'ready',
    wrappedDataKey: Buffer.from(wrapped),
    keyVersion: version,
    createdAt: now,
    updatedAt: now,
  });
  return { id, dataKey, version, wrapped };
}

async function storedRecording(id: string) {
  const row = await db.select().from(recordings).where(eq(recordings.id, id)).get();
  return { keyVersion: row!.keyVersion!, wrapped: new Uint8Array(row!.wrappedDataKey!) };
}

describe('envelope keys', () => {
  it('wraps and unwraps a data key through D1', async () => {
    const userId = newUser();
    const rec = await storeRecording(userId);
    expect(rec.version).toBe(1);
    expect(rec.wrapped).toHaveLength(60);
    const stored = await storedRecording(rec.id);
    expect(await unwrapRecordingKey(db, master, userId, stored.keyVersion, stored.wrapped, rec.id)).toEqual(rec.dataKey);
  });

  it('a wrapped key moved to another recording fails to open', async () => {
    const userId = newUser();
    const rec = await storeRecording(userId);
    const other = await storeRecording(userId);
    await expect(unwrapRecordingKey(db, master, userId, 1, rec.wrapped, other.id)).rejects.toBeInstanceOf(IntegrityError);
    await expect(unwrapRecordingKey(db, master, newUser(), 1, rec.wrapped, rec.id)).rejects.toBeInstanceOf(KeyUnavailable);
  });

  it('a wrong key version fails: missing → KeyUnavailable, another version → IntegrityError', async () => {
    const userId = newUser();
    const rec = await storeRecording(userId);
    await expect(unwrapRecordingKey(db, master, userId, 2, rec.wrapped, rec.id)).rejects.toBeInstanceOf(KeyUnavailable);
    await rotateUserKeys(db, master, 30, new Date(Date.now() + 31 * DAY), 10_000);
    await expect(unwrapRecordingKey(db, master, userId, 2, rec.wrapped, rec.id)).rejects.toMatchObject({ code: 'integrity_error' });
  });

  it('concurrent first use creates one secret for version 1', async () => {
    const userId = newUser();
    const keys = await Promise.all(Array.from({ length: 6 }, () => activeUserKey(db, master, userId)));
    expect(keys.map((k) => k.version)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(await db.select().from(userKeys).where(eq(userKeys.userId, userId)).all()).toHaveLength(1);
    const dataKey = newDataKey();
    const wrapped = await wrapDataKey(keys[0]!.key, dataKey, 'rec_concurrent');
    const aad = new TextEncoder().encode('rec_concurrent');
    for (const { key } of keys) await expect(crypto.subtle.decrypt({ name: 'AES-GCM', iv: wrapped.subarray(0, 12), additionalData: aad }, key, wrapped.subarray(12))).resolves.toBeDefined();
  });
});

describe('rotation and rewrap', () => {
  it('creates version 2 after KEY_ROTATION_DAYS; new keys use v2 and v1 stays readable', async () => {
    const userId = newUser();
    const old = await storeRecording(userId);
    expect(await rotateUserKeys(db, master, 30, new Date(Date.now() + 10 * DAY), 10_000)).toBe(0);
    const later = new Date(Date.now() + 31 * DAY);
    expect(await rotateUserKeys(db, master, 30, later, 10_000)).toBeGreaterThanOrEqual(1);
    const rows = await db.select().from(userKeys).where(eq(userKeys.userId, userId)).orderBy(userKeys.version).all();
    expect(rows.map((r) => [r.version, r.retiredAt, r.createdAt])).toEqual([
      [1, later.toISOString(), expect.any(String)],
      [2, null, later.toISOString()],
    ]);
    const fresh = await storeRecording(userId);
    expect(fresh.version).toBe(2);
    expect(await unwrapRecordingKey(db, master, userId, 1, old.wrapped, old.id)).toEqual(old.dataKey);
    // v2 is young at `later`: nothing more to rotate for this user.
    await rotateUserKeys(db, master, 30, later, 10_000);
    expect(await db.select().from(userKeys).where(eq(userKeys.userId, userId)).all()).toHaveLength(2);
  });

  it('rewraps every recording to the newest version without changing its data key', async () => {
    const userId = newUser();
    const recs = [await storeRecording(userId), await storeRecording(userId), await storeRecording(userId)];
    await rotateUserKeys(db, master, 30, new Date(Date.now() + 31 * DAY), 10_000);
    expect(await rewrapRecordings(db, master, 1)).toEqual({ rewrapped: 1, remaining: true });
    for (let i = 0; i < 100 && (await rewrapRecordings(db, master, 50)).remaining; i++);
    expect(await rewrapRecordings(db, master, 50)).toEqual({ rewrapped: 0, remaining: false });
    for (const rec of recs) {
      const stored = await storedRecording(rec.id);
      expect(stored.keyVersion).toBe(2);
      expect(stored.wrapped).not.toEqual(rec.wrapped);
      expect(await unwrapRecordingKey(db, master, userId, 2, stored.wrapped, rec.id)).toEqual(rec.dataKey);
    }
    // v1 stays until its grace period has passed, then its secret is destroyed.
    const v1 = and(eq(userKeys.userId, userId), eq(userKeys.version, 1));
    expect((await db.select().from(userKeys).where(v1).get())!.wrappedSecret).not.toBeNull();
    await db.update(userKeys).set({ retiredAt: new Date(Date.now() - 3 * DAY).toISOString() }).where(v1);
    await rewrapRecordings(db, master, 50);
    const shredded = (await db.select().from(userKeys).where(v1).get())!;
    expect(shredded.wrappedSecret).toBeNull();
    expect(shredded.destroyedAt).not.toBeNull();
    expect(await unwrapRecordingKey(db, master, userId, 2, (await storedRecording(recs[0]!.id)).wrapped, recs[0]!.id)).toEqual(recs[0]!.dataKey);
  });
});

describe('crypto-shredding', () => {
  it('destroying the user secret makes every recording of the user unreadable', async () => {
    const userId = newUser();
    const rec = await storeRecording(userId);
    await unwrapRecordingKey(db, master, userId, 1, rec.wrapped, rec.id); // warm the isolate cache
    expect(await userKeyDestroyed(db, userId)).toBe(false);
    expect(await destroyUserKeys(db, userId)).toEqual({ versions: 1 });
    expect(await userKeyDestroyed(db, userId)).toBe(true);
    await expect(unwrapRecordingKey(db, master, userId, 1, rec.wrapped, rec.id)).rejects.toBeInstanceOf(KeyUnavailable);
    const row = (await db.select().from(userKeys).where(eq(userKeys.userId, userId)).get())!;
    expect(row.wrappedSecret).toBeNull();
    expect(row.destroyedAt).not.toBeNull();
    // A later recording gets a fresh, independent version; the shredded one stays shredded.
    expect((await activeUserKey(db, master, userId)).version).toBe(2);
    await expect(unwrapRecordingKey(db, master, userId, 1, rec.wrapped, rec.id)).rejects.toBeInstanceOf(KeyUnavailable);
    expect(await userKeyDestroyed(db, newUser())).toBe(false);
  });
});

describe('what D1 holds', () => {
  it('never holds the user secret, the user key or a data key in clear', async () => {
    const userId = newUser();
    const rec = await storeRecording(userId);
    const raw = (await env.DB.prepare('select wrapped_secret from user_keys where user_id = ?').bind(userId).first<{ wrapped_secret: ArrayBuffer | number[] }>())!;
    const wrappedSecret = new Uint8Array(raw.wrapped_secret);
    const recordingRow = (await env.DB.prepare('select * from recordings where id = ?').bind(rec.id).first<Record<string, unknown>>())!;
    const storedDataKey = new Uint8Array(recordingRow.wrapped_data_key as ArrayBuffer | number[]);

    // Recompute the hierarchy as docs/encryption.md describes it.
    const wrapKey = await crypto.subtle.importKey('raw', await deriveBytes(master, 'user-secret-wrap'), 'AES-GCM', false, ['decrypt']);
    const secret = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: wrappedSecret.subarray(0, 12), additionalData: new TextEncoder().encode(`call-recorder/user-secret/v1/${userId}/1`) },
        wrapKey,
        wrappedSecret.subarray(12),
      ),
    );
    const userKey = new Uint8Array(
      await crypto.subtle.deriveBits(
        { name: 'HKDF', hash: 'SHA-256', salt: secret, info: new TextEncoder().encode(`call-recorder/user-key/v1/${userId}/1`) },
        await importMasterKey(master),
        256,
      ),
    );
    const userAes = await crypto.subtle.importKey('raw', userKey, 'AES-GCM', false, ['decrypt']);
    const dataKey = new Uint8Array(
      await crypto.subtle.decrypt({ name: 'AES-GCM', iv: storedDataKey.subarray(0, 12), additionalData: new TextEncoder().encode(rec.id) }, userAes, storedDataKey.subarray(12)),
    );
    expect(dataKey).toEqual(rec.dataKey);

    const stored = [wrappedSecret, storedDataKey, ...Object.values(recordingRow).filter((v) => typeof v === 'string').map((v) => new TextEncoder().encode(v as string))];
    for (const material of [secret, userKey, dataKey]) {
      for (const blob of stored) expect(contains(blob, material.subarray(0, 8))).toBe(false);
    }
  });
});

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
