/**
 * Read grants on one recording: the owner or an admin lets another user read it (metadata, audio,
 * transcript), or takes that back. The caller has decided who may (src/auth/permissions.ts) and
 * audits; these functions change the grants and answer the list as it is afterwards.
 */
import type { Database } from '../db/client';
import { grantRead, listGrants, revokeGrant } from '../db/permissions';
import type { RecordingRow } from '../db/recordings';
import { AppError } from '../errors';

export interface GrantList {
  recordingId: string;
  /** Oldest first. */
  grants: { userId: string; permission: 'read'; grantedBy: string; grantedAt: string }[];
}

/** The recording's read grants. */
export async function listRecordingGrants(db: Database, recordingId: string): Promise<GrantList> {
  const grants = await listGrants(db, recordingId);
  return { recordingId, grants: grants.map(({ userId, permission, grantedBy, grantedAt }) => ({ userId, permission, grantedBy, grantedAt })) };
}

/** Let `userId` read `recording` (granted by `by`); granting again keeps the first grant. 400 for its owner, who reads it already. */
export async function grantReadAccess(db: Database, recording: Pick<RecordingRow, 'id' | 'userId'>, userId: string, by: string): Promise<{ created: boolean; list: GrantList }> {
  if (userId === recording.userId) throw new AppError('invalid_request', 'userId: is the owner of the recording, who can read it already');
  const created = await grantRead(db, recording.id, userId, by);
  return { created, list: await listRecordingGrants(db, recording.id) };
}

/** Take `userId`'s read access to recording `recordingId` back; revoking an absent grant changes nothing. */
export async function revokeReadAccess(db: Database, recordingId: string, userId: string): Promise<{ existed: boolean; list: GrantList }> {
  const existed = await revokeGrant(db, recordingId, userId);
  return { existed, list: await listRecordingGrants(db, recordingId) };
}
