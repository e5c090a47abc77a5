/** Read grants on single recordings: who may read a recording they do not own. No HTTP here. */
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Database } from './client';
import { recordingPermissions, recordings } from './schema';

export type GrantRow = typeof recordingPermissions.$inferSelect;

export interface Grant {
  recordingId: string;
  userId: string;
  permission: 'read';
  grantedBy: string;
  grantedAt: string;
}

const toGrant = (row: GrantRow): Grant => ({ recordingId: row.recordingId, userId: row.granteeUserId, permission: row.permission, grantedBy: row.grantedBy, grantedAt: row.grantedAt });

/** The recording's grants, oldest first. */
export async function listGrants(db: Database, recordingId: string): Promise<Grant[]> {
  const rows = await db.select().from(recordingPermissions).where(eq(recordingPermissions.recordingId, recordingId)).orderBy(asc(recordingPermissions.grantedAt), asc(recordingPermissions.granteeUserId));
  return rows.map(toGrant);
}

/** Grant `userId` read access; granting again keeps the first grant. True when this call created it. */
export async function grantRead(db: Database, recordingId: string, userId: string, grantedBy: string, now = new Date()): Promise<boolean> {
  const inserted = await db
    .insert(recordingPermissions)
    .values({ recordingId, granteeUserId: userId, permission: 'read', grantedBy, grantedAt: now.toISOString() })
    .onConflictDoNothing()
    .returning({ recordingId: recordingPermissions.recordingId });
  return inserted.length > 0;
}

/** Revoke; true when there was a grant to revoke. */
export async function revokeGrant(db: Database, recordingId: string, userId: string): Promise<boolean> {
  const deleted = await db
    .delete(recordingPermissions)
    .where(and(eq(recordingPermissions.recordingId, recordingId), eq(recordingPermissions.granteeUserId, userId)))
    .returning({ recordingId: recordingPermissions.recordingId });
  return deleted.length > 0;
}

/** Grants others hold on the live recordings `ownerId` owns. */
export async function grantsOnRecordingsOf(db: Database, ownerId: string): Promise<Grant[]> {
  const rows = await db
    .select({ grant: recordingPermissions })
    .from(recordingPermissions)
    .innerJoin(recordings, eq(recordings.id, recordingPermissions.recordingId))
    .where(and(eq(recordings.userId, ownerId), isNull(recordings.deletedAt)))
    .orderBy(asc(recordingPermissions.recordingId), asc(recordingPermissions.granteeUserId));
  return rows.map((r) => toGrant(r.grant));
}

/** Grants `userId` holds on other people's live recordings, with each recording's owner. */
export async function grantsHeldBy(db: Database, userId: string): Promise<(Grant & { ownerUserId: string })[]> {
  const rows = await db
    .select({ grant: recordingPermissions, ownerUserId: recordings.userId })
    .from(recordingPermissions)
    .innerJoin(recordings, eq(recordings.id, recordingPermissions.recordingId))
    .where(and(eq(recordingPermissions.granteeUserId, userId), isNull(recordings.deletedAt)))
    .orderBy(asc(recordingPermissions.recordingId));
  return rows.map((r) => ({ ...toGrant(r.grant), ownerUserId: r.ownerUserId }));
}

/** Remove every grant `userId` holds (their erasure); returns how many. */
export async function revokeGrantsHeldBy(db: Database, userId: string): Promise<number> {
  const deleted = await db.delete(recordingPermissions).where(eq(recordingPermissions.granteeUserId, userId)).returning({ recordingId: recordingPermissions.recordingId });
  return deleted.length;
}
