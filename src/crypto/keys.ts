/**
 * Envelope encryption: MASTER_ENCRYPTION_KEY + a random per-user secret (stored sealed in D1)
 * → per-user key of a version → wraps each recording's random data key. The secret is what makes
 * crypto-shredding possible: a key derived from the master key and the user id alone could never
 * be destroyed, while NULLing `user_keys.wrapped_secret` makes every data key it wrapped
 * unrecoverable. No key material is ever stored in clear. Formats: docs/encryption.md.
 */
import type { Database } from '../db/client';
import {
  countUserKeys,
  destroyUnusedRetiredSecrets,
  destroyUserKeyVersions,
  insertUserKeyVersion,
  newestUserKey,
  recordingsWrappedUnderOldKeys,
  replaceWrappedDataKey,
  retireUserKeysBelow,
  userKeySecret,
  usersDueForRotation,
} from '../db/user-keys';
import { AppError } from '../errors';
import { AES_KEY_SIZE, GCM_IV_SIZE, GCM_TAG_SIZE, IntegrityError, importAesKey, openWithIv, sealWithRandomIv } from './aes-gcm';
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

const seal = sealWithRandomIv;

function open(key: CryptoKey, wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  if (wrapped.length !== WRAPPED_SIZE) throw new IntegrityError('truncated', `a wrapped key must be ${WRAPPED_SIZE} bytes, got ${wrapped.length}`);
  return openWithIv(key, wrapped, aad);
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
  const wrappedSecret = await userKeySecret(db, userId, version);
  if (!wrappedSecret) throw new KeyUnavailable(userId, version);
  return userKeyFromRow(masterKey, userId, version, wrappedSecret);
}

/** Create version `version` with a fresh secret unless it exists; true when this call created it. */
async function createVersion(db: Database, masterKey: string, userId: string, version: number, now: Date): Promise<boolean> {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const wrappedSecret = await seal(await secretWrapKey(masterKey), secret, secretAad(userId, version));
  // Concurrent creators race on the primary key; the loser's secret is dropped, and everyone re-reads the winner's.
  return insertUserKeyVersion(db, { userId, version, wrappedSecret, createdAt: now.toISOString() });
}

/**
 * The user's newest key, for wrapping new data keys. Creates version 1 on first use, and a fresh
 * version after a crypto-shredding (destroyed versions stay destroyed; versions are never reused).
 */
export async function activeUserKey(db: Database, masterKey: string, userId: string): Promise<{ version: number; key: CryptoKey }> {
  const newest = await newestUserKey(db, userId);
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
  const due = await usersDueForRotation(db, cutoff, limit);
  let rotated = 0;
  for (const { userId, version } of due) {
    if (await createVersion(db, masterKey, userId, version + 1, now)) rotated++;
    await retireUserKeysBelow(db, userId, version + 1, now.toISOString());
  }
  return rotated;
}

/**
 * Recordings wrapped under an older version than their owner's newest get the same data key
 * rewrapped under the newest: a D1 update only, the audio object is never touched. Retired
 * versions that no recording uses any more (after a grace period) then have their secret destroyed.
 */
export async function rewrapRecordings(db: Database, masterKey: string, limit: number): Promise<{ rewrapped: number; remaining: boolean }> {
  const stale = await recordingsWrappedUnderOldKeys(db, limit + 1);
  let rewrapped = 0;
  for (const row of stale.slice(0, limit)) {
    const from = row.keyVersion!;
    const dataKey = await unwrapRecordingKey(db, masterKey, row.userId, from, row.wrappedDataKey!, row.id);
    const wrapped = await wrapDataKey(await loadUserKey(db, masterKey, row.userId, row.newest), dataKey, row.id);
    // Conditional on the version read: a concurrent rewrap of the same row makes this a no-op.
    if (await replaceWrappedDataKey(db, row.id, from, row.newest, wrapped)) rewrapped++;
  }
  const retiredBefore = new Date(Date.now() - RETIRED_SECRET_GRACE_MS).toISOString();
  const destroyed = await destroyUnusedRetiredSecrets(db, retiredBefore, new Date().toISOString());
  for (const { userId } of destroyed) forgetUserKeys(userId);
  return { rewrapped, remaining: stale.length > limit };
}

/**
 * Crypto-shredding: destroys every key version of the user, so none of their recordings can be
 * decrypted again; unless a live recording of theirs is on legal hold at that instant (one
 * statement: a hold placed a moment earlier wins, and nothing is destroyed).
 */
export async function destroyUserKeys(db: Database, userId: string): Promise<{ versions: number }> {
  const versions = await destroyUserKeyVersions(db, userId, new Date().toISOString());
  forgetUserKeys(userId);
  return { versions };
}

/** True when the user has key versions and every one of them is destroyed. */
export async function userKeyDestroyed(db: Database, userId: string): Promise<boolean> {
  const { total, live } = await countUserKeys(db, userId);
  return total > 0 && live === 0;
}
