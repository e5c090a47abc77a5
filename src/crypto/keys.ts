/**
 * Envelope encryption: MASTER_ENCRYPTION_KEY + a random per-user secret (stored sealed in D1)
 * → per-user key of a version → wraps each recording's random data key. The secret is what makes
 * crypto-shredding possible: a key derived from the master key and the user id alone could never
 * be destroyed, while NULLing `user_keys.wrapped_secret` makes every data key it wrapped
 * unrecoverable. No key material is ever stored in clear. Formats: docs/encryption.md.
 */
import { and, desc, eq, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import type { Database } from '../context';
import { recordings, userKeys } from '../db/schema';
import { AppError } from '../errors';
import { AES_KEY_SIZE, GCM_IV_SIZE, GCM_TAG_SIZE, IntegrityError, importAesKey, openAesGcm, sealAesGcm } from './aes-gcm';
import { bytesToBase64 } from '../encoding';
import { deriveBytes, importMasterKey } from './derive';

/** The user's key of that version was destroyed (crypto-shredded) or never existed. */
export class KeyUnavailable extends AppError {
  override name = 'KeyUnavailable';
  constructor(
    readonly userId: string,
    readonly version: number,
  ) {
    super('not_found', 'The encryption key of this recording is no longer available');
  }
}

/** iv (12) ‖ AES-GCM(32 secret or data-key bytes) ‖ tag (16). */
const WRAPPED_SIZE = GCM_IV_SIZE + AES_KEY_SIZE + GCM_TAG_SIZE;
/** A retired secret is destroyed only this long after retirement, so that uploads and live calls that fetched the old version just before a rotation still store a readable key. */
const RETIRED_SECRET_GRACE_MS = 2 * 86_400_000;
const CACHE_LIMIT = 256;
const encoder = new TextEncoder();

const secretAad = (userId: string, version: number) => encoder.encode(`call-recorder/user-secret/v1/${userId}/${version}`);
const userKeyInfo = (userId: string, version: number) => encoder.encode(`call-recorder/user-key/v1/${userId}/${version}`);

async function seal(key: CryptoKey, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const iv = crypto.getRandomValues(new Uint8Array(GCM_IV_SIZE));
  const sealed = await sealAesGcm(key, iv, plaintext, aad);
  const out = new Uint8Array(GCM_IV_SIZE + sealed.length);
  out.set(iv);
  out.set(sealed, GCM_IV_SIZE);
  return out;
}

function open(key: CryptoKey, wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  if (wrapped.length !== WRAPPED_SIZE) throw new IntegrityError('truncated', `a wrapped key must be ${WRAPPED_SIZE} bytes, got ${wrapped.length}`);
  return openAesGcm(key, wrapped.subarray(0, GCM_IV_SIZE), wrapped.subarray(GCM_IV_SIZE), aad);
}

const secretWrapKeys = new Map<string, Promise<CryptoKey>>();
function secretWrapKey(masterKey: string): Promise<CryptoKey> {
  let key = secretWrapKeys.get(masterKey);
  if (!key) {
    key = deriveBytes(masterKey, 'user-secret-wrap').then(importAesKey);
    secretWrapKeys.set(masterKey, key);
  }
  return key;
}

/**
 * Unwrapped user keys per isolate. The entry is named by the stored wrapped secret too, so a
 * replaced or destroyed row can never be served from here; D1 is read on every use anyway, which
 * is what makes a destruction effective in every isolate at once.
 */
const userKeyCache = new Map<string, { userId: string; key: Promise<CryptoKey> }>();

function userKeyFromRow(masterKey: string, userId: string, version: number, wrappedSecret: Uint8Array): Promise<CryptoKey> {
  const cacheKey = `${userId}\u0000${version}\u0000${bytesToBase64(wrappedSecret)}\u0000${masterKey}`;
  const hit = userKeyCache.get(cacheKey);
  if (hit) return hit.key;
  const key = (async () => {
    const secret = await open(await secretWrapKey(masterKey), wrappedSecret, secretAad(userId, version));
    return crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: secret, info: userKeyInfo(userId, version) },
      await importMasterKey(masterKey),
      { name: 'AES-GCM', length: 256 },
      false,
      ['encrypt', 'decrypt'],
    );
  })();
  key.catch(() => userKeyCache.delete(cacheKey));
  if (userKeyCache.size >= CACHE_LIMIT) userKeyCache.delete(userKeyCache.keys().next().value!);
  userKeyCache.set(cacheKey, { userId, key });
  return key;
}

function forgetUserKeys(userId: string): void {
  for (const [cacheKey, entry] of userKeyCache) if (entry.userId === userId) userKeyCache.delete(cacheKey);
}

async function loadUserKey(db: Database, masterKey: string, userId: string, version: number): Promise<CryptoKey> {
  const row = await db
    .select({ wrappedSecret: userKeys.wrappedSecret })
    .from(userKeys)
    .where(and(eq(userKeys.userId, userId), eq(userKeys.version, version)))
    .get();
  if (!row?.wrappedSecret) throw new KeyUnavailable(userId, version);
  return userKeyFromRow(masterKey, userId, version, row.wrappedSecret);
}

/** Create version `version` with a fresh secret unless it exists; true when this call created it. */
async function createVersion(db: Database, masterKey: string, userId: string, version: number, now: Date): Promise<boolean> {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const wrappedSecret = await seal(await secretWrapKey(masterKey), secret, secretAad(userId, version));
  // Concurrent creators race on the primary key; the loser's secret is dropped, and everyone re-reads the winner's.
  const inserted = await db
    .insert(userKeys)
    .values({ userId, version, wrappedSecret: Buffer.from(wrappedSecret), createdAt: now.toISOString() })
    .onConflictDoNothing()
    .returning({ version: userKeys.version });
  return inserted.length > 0;
}

/**
 * The user's newest key, for wrapping new data keys. Creates version 1 on first use, and a fresh
 * version after a crypto-shredding (destroyed versions stay destroyed; versions are never reused).
 */
export async function activeUserKey(db: Database, masterKey: string, userId: string): Promise<{ version: number; key: CryptoKey }> {
  const newest = await db.select().from(userKeys).where(eq(userKeys.userId, userId)).orderBy(desc(userKeys.version)).limit(1).get();
  if (newest?.wrappedSecret) return { version: newest.version, key: await userKeyFromRow(masterKey, userId, newest.version, newest.wrappedSecret) };
  const version = (newest?.version ?? 0) + 1;
  await createVersion(db, masterKey, userId, version, new Date());
  return { version, key: await loadUserKey(db, masterKey, userId, version) };
}

/** 32 random bytes: one recording's data key, generated once and never regenerated once chunks exist. */
export function newDataKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(AES_KEY_SIZE));
}

/** iv ‖ AES-256-GCM(dataKey, AAD = recording id) ‖ tag: a wrapped key moved to another recording fails to open. */
export function wrapDataKey(userKey: CryptoKey, dataKey: Uint8Array, recordingId: string): Promise<Uint8Array> {
  if (dataKey.length !== AES_KEY_SIZE) throw new RangeError(`a data key must be ${AES_KEY_SIZE} bytes`);
  return seal(userKey, dataKey, encoder.encode(recordingId));
}

/** The recording's data key. KeyUnavailable when that key version is destroyed or missing; IntegrityError when the wrapped key does not open. */
export async function unwrapRecordingKey(
  db: Database,
  masterKey: string,
  userId: string,
  version: number,
  wrapped: Uint8Array,
  recordingId: string,
): Promise<Uint8Array> {
  const userKey = await loadUserKey(db, masterKey, userId, version);
  try {
    return await open(userKey, wrapped, encoder.encode(recordingId));
  } catch (cause) {
    throw new IntegrityError('key', `the data key of recording ${recordingId} does not open under user key v${version}`, { cause });
  }
}

/** Users whose newest key version is older than `rotationDays` get a new version; the old one is marked retired and stays readable. Returns how many rotated. */
export async function rotateUserKeys(db: Database, masterKey: string, rotationDays: number, now: Date, limit: number): Promise<number> {
  const cutoff = new Date(now.getTime() - rotationDays * 86_400_000).toISOString();
  const due = await db
    .select({ userId: userKeys.userId, version: userKeys.version })
    .from(userKeys)
    .where(
      and(
        isNull(userKeys.destroyedAt),
        lt(userKeys.createdAt, cutoff),
        sql`${userKeys.version} = (select max(k.version) from user_keys k where k.user_id = ${userKeys.userId})`,
      ),
    )
    .limit(limit);
  let rotated = 0;
  for (const { userId, version } of due) {
    if (await createVersion(db, masterKey, userId, version + 1, now)) rotated++;
    await db
      .update(userKeys)
      .set({ retiredAt: now.toISOString() })
      .where(and(eq(userKeys.userId, userId), lt(userKeys.version, version + 1), isNull(userKeys.retiredAt), isNull(userKeys.destroyedAt)));
  }
  return rotated;
}

/**
 * Recordings wrapped under an older version than their owner's newest get the same data key
 * rewrapped under the newest: a D1 update only, the audio object is never touched. Retired
 * versions that no recording uses any more (after a grace period) then have their secret destroyed.
 */
export async function rewrapRecordings(db: Database, masterKey: string, limit: number): Promise<{ rewrapped: number; remaining: boolean }> {
  const newest = sql<number>`(select max(k.version) from user_keys k where k.user_id = "recordings"."user_id" and k.destroyed_at is null)`;
  const stale = await db
    .select({ id: recordings.id, userId: recordings.userId, keyVersion: recordings.keyVersion, wrappedDataKey: recordings.wrappedDataKey, newest })
    .from(recordings)
    .where(
      and(
        isNotNull(recordings.wrappedDataKey),
        sql`${recordings.keyVersion} < ${newest}`,
        // A recording whose version was shredded cannot be rewrapped, and must not be retried forever.
        sql`exists (select 1 from user_keys o where o.user_id = "recordings"."user_id" and o.version = "recordings"."key_version" and o.wrapped_secret is not null)`,
      ),
    )
    .limit(limit + 1);
  let rewrapped = 0;
  for (const row of stale.slice(0, limit)) {
    const from = row.keyVersion!;
    const dataKey = await unwrapRecordingKey(db, masterKey, row.userId, from, row.wrappedDataKey!, row.id);
    const wrapped = await wrapDataKey(await loadUserKey(db, masterKey, row.userId, row.newest), dataKey, row.id);
    // Conditional on the version read: a concurrent rewrap of the same row makes this a no-op.
    const updated = await db
      .update(recordings)
      .set({ wrappedDataKey: Buffer.from(wrapped), keyVersion: row.newest })
      .where(and(eq(recordings.id, row.id), eq(recordings.keyVersion, from)))
      .returning({ id: recordings.id });
    rewrapped += updated.length;
  }
  const destroyed = await db
    .update(userKeys)
    .set({ wrappedSecret: null, destroyedAt: new Date().toISOString() })
    .where(
      and(
        isNotNull(userKeys.retiredAt),
        isNull(userKeys.destroyedAt),
        lt(userKeys.retiredAt, new Date(Date.now() - RETIRED_SECRET_GRACE_MS).toISOString()),
        sql`not exists (select 1 from recordings r where r.user_id = ${userKeys.userId} and r.key_version = ${userKeys.version} and r.wrapped_data_key is not null)`,
        // Nor the key of an unredacted original a legal hold keeps (media/redact.ts).
        sql`not exists (select 1 from redaction_originals o join recordings r on r.id = o.recording_id where r.user_id = ${userKeys.userId} and o.key_version = ${userKeys.version} and o.wrapped_data_key is not null)`,
      ),
    )
    .returning({ userId: userKeys.userId });
  for (const { userId } of destroyed) forgetUserKeys(userId);
  return { rewrapped, remaining: stale.length > limit };
}

/**
 * Crypto-shredding: destroys every key version of the user, so none of their recordings can be
 * decrypted again; unless a live recording of theirs is on legal hold at that instant (one
 * statement: a hold placed a moment earlier wins, and nothing is destroyed).
 */
export async function destroyUserKeys(db: Database, userId: string): Promise<{ versions: number }> {
  const held = sql`exists (select 1 from recordings r where r.user_id = ${userId} and r.deleted_at is null and r.legal_hold = 1)`;
  const destroyed = await db
    .update(userKeys)
    .set({ wrappedSecret: null, destroyedAt: new Date().toISOString() })
    .where(and(eq(userKeys.userId, userId), isNull(userKeys.destroyedAt), sql`not ${held}`))
    .returning({ version: userKeys.version });
  forgetUserKeys(userId);
  return { versions: destroyed.length };
}

/** True when the user has key versions and every one of them is destroyed. */
export async function userKeyDestroyed(db: Database, userId: string): Promise<boolean> {
  const counts = await db
    .select({ total: sql<number>`count(*)`, live: sql<number>`count(${userKeys.wrappedSecret})` })
    .from(userKeys)
    .where(eq(userKeys.userId, userId))
    .get();
  return (counts?.total ?? 0) > 0 && counts?.live === 0;
}
