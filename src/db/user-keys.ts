/**
 * The `user_keys` rows behind src/crypto/keys.ts (one per user and key version, the user's secret
 * sealed under the master key), and the statements that move recordings' wrapped data keys
 * between versions. Each destroying statement carries its own guard (legal hold, keys still in
 * use), so a concurrent change wins over it in one statement.
 */
import { and, desc, eq, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import type { Database } from './client';
import { recordings, userKeys } from './schema';

export type UserKeyRow = typeof userKeys.$inferSelect;

/** The sealed secret of that version; null when it was destroyed or never existed. */
export async function userKeySecret(db: Database, userId: string, version: number): Promise<Uint8Array | null> {
  const row = await db
    .select({ wrappedSecret: userKeys.wrappedSecret })
    .from(userKeys)
    .where(and(eq(userKeys.userId, userId), eq(userKeys.version, version)))
    .get();
  return row?.wrappedSecret ?? null;
}

/** Insert the version unless it exists (concurrent creators race on the primary key); true when this call inserted it. */
export async function insertUserKeyVersion(db: Database, row: { userId: string; version: number; wrappedSecret: Uint8Array; createdAt: string }): Promise<boolean> {
  const inserted = await db
    .insert(userKeys)
    .values({ ...row, wrappedSecret: Buffer.from(row.wrappedSecret) })
    .onConflictDoNothing()
    .returning({ version: userKeys.version });
  return inserted.length > 0;
}

/** The user's highest version, destroyed or not. */
export function newestUserKey(db: Database, userId: string): Promise<UserKeyRow | undefined> {
  return db.select().from(userKeys).where(eq(userKeys.userId, userId)).orderBy(desc(userKeys.version)).limit(1).get();
}

/** Users whose newest version is live and was created before `cutoff`, with that version. */
export function usersDueForRotation(db: Database, cutoff: string, limit: number): Promise<{ userId: string; version: number }[]> {
  return db
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
}

/** Mark every live, not yet retired version below `below` retired (they stay readable). */
export async function retireUserKeysBelow(db: Database, userId: string, below: number, at: string): Promise<void> {
  await db
    .update(userKeys)
    .set({ retiredAt: at })
    .where(and(eq(userKeys.userId, userId), lt(userKeys.version, below), isNull(userKeys.retiredAt), isNull(userKeys.destroyedAt)));
}

export interface StaleWrappedKey {
  id: string;
  userId: string;
  keyVersion: number | null;
  wrappedDataKey: Uint8Array | null;
  /** The owner's newest live version. */
  newest: number;
}

/**
 * Up to `limit` recordings wrapped under an older version than their owner's newest live one,
 * leaving out those whose own version was shredded (they cannot be rewrapped, and must not be
 * retried forever).
 */
export function recordingsWrappedUnderOldKeys(db: Database, limit: number): Promise<StaleWrappedKey[]> {
  const newest = sql<number>`(select max(k.version) from user_keys k where k.user_id = "recordings"."user_id" and k.destroyed_at is null)`;
  return db
    .select({ id: recordings.id, userId: recordings.userId, keyVersion: recordings.keyVersion, wrappedDataKey: recordings.wrappedDataKey, newest })
    .from(recordings)
    .where(
      and(
        isNotNull(recordings.wrappedDataKey),
        sql`${recordings.keyVersion} < ${newest}`,
        sql`exists (select 1 from user_keys o where o.user_id = "recordings"."user_id" and o.version = "recordings"."key_version" and o.wrapped_secret is not null)`,
      ),
    )
    .limit(limit);
}

/** Store the data key rewrapped under `to`, conditional on the version read (`from`): a concurrent rewrap makes this a no-op. True when it changed the row. */
export async function replaceWrappedDataKey(db: Database, recordingId: string, from: number, to: number, wrapped: Uint8Array): Promise<boolean> {
  const updated = await db
    .update(recordings)
    .set({ wrappedDataKey: Buffer.from(wrapped), keyVersion: to })
    .where(and(eq(recordings.id, recordingId), eq(recordings.keyVersion, from)))
    .returning({ id: recordings.id });
  return updated.length > 0;
}

/**
 * Destroy the secrets of versions retired before `retiredBefore` that nothing uses any more: no
 * recording's data key, nor the key of an unredacted original a legal hold keeps
 * (src/media/redact.ts). The owners of the versions destroyed.
 */
export function destroyUnusedRetiredSecrets(db: Database, retiredBefore: string, at: string): Promise<{ userId: string }[]> {
  return db
    .update(userKeys)
    .set({ wrappedSecret: null, destroyedAt: at })
    .where(
      and(
        isNotNull(userKeys.retiredAt),
        isNull(userKeys.destroyedAt),
        lt(userKeys.retiredAt, retiredBefore),
        sql`not exists (select 1 from recordings r where r.user_id = ${userKeys.userId} and r.key_version = ${userKeys.version} and r.wrapped_data_key is not null)`,
        sql`not exists (select 1 from redaction_originals o join recordings r on r.id = o.recording_id where r.user_id = ${userKeys.userId} and o.key_version = ${userKeys.version} and o.wrapped_data_key is not null)`,
      ),
    )
    .returning({ userId: userKeys.userId });
}

/**
 * Destroy every live version of the user, unless a live recording of theirs is on legal hold at
 * that instant (one statement: a hold placed a moment earlier wins). How many versions it destroyed.
 */
export async function destroyUserKeyVersions(db: Database, userId: string, at: string): Promise<number> {
  const held = sql`exists (select 1 from recordings r where r.user_id = ${userId} and r.deleted_at is null and r.legal_hold = 1)`;
  const destroyed = await db
    .update(userKeys)
    .set({ wrappedSecret: null, destroyedAt: at })
    .where(and(eq(userKeys.userId, userId), isNull(userKeys.destroyedAt), sql`not ${held}`))
    .returning({ version: userKeys.version });
  return destroyed.length;
}

/** How many versions the user has, and how many of them still hold a secret. */
export async function countUserKeys(db: Database, userId: string): Promise<{ total: number; live: number }> {
  const counts = await db
    .select({ total: sql<number>`count(*)`, live: sql<number>`count(${userKeys.wrappedSecret})` })
    .from(userKeys)
    .where(eq(userKeys.userId, userId))
    .get();
  return { total: counts?.total ?? 0, live: counts?.live ?? 0 };
}
