/**
 * Who may do what to one recording, on plain values. Owners and admins: everything their role
 * allows; users with a read grant: metadata and audio; auditors: metadata of everyone, never
 * audio, never changes; anyone else: 404, so existence is not disclosed. The caller audits every
 * denial (the HTTP routes through `loadRecordingFor` in src/auth/middleware.ts).
 */
import type { Database } from '../db/client';
import { findRecording, hasReadGrant, type RecordingRow } from '../db/recordings';
import { AppError, notFound } from '../errors';
import type { Principal } from './principal';

export type Access = 'metadata' | 'audio' | 'change' | 'admin';

export type AccessDecision = { allowed: true; row: RecordingRow } | { allowed: false; error: AppError; reason: string };

const denied = (error: AppError, reason: string): AccessDecision => ({ allowed: false, error, reason });

/** May `principal` have `access` to recording `id`? The row when so; the error to answer and the reason to audit when not. */
export async function decideRecordingAccess(db: Database, principal: Pick<Principal, 'id' | 'role'>, id: string, access: Access): Promise<AccessDecision> {
  const row = await findRecording(db, id);
  if (!row) return denied(notFound(), 'not found');
  const owner = row.userId === principal.id;
  if (principal.role === 'admin') return { allowed: true, row };
  if (principal.role === 'auditor') {
    if (access === 'metadata') return { allowed: true, row };
    return denied(new AppError('forbidden', access === 'audio' ? 'Auditors may not access audio' : 'Auditors may not change recordings'), `auditor ${access}`);
  }
  if (!owner && !(await hasReadGrant(db, id, principal.id))) return denied(notFound(), 'not owner');
  if (access === 'admin') return denied(new AppError('forbidden', 'Only admins may do this'), 'not admin');
  if (!owner && access === 'change') return denied(new AppError('forbidden', 'A read grant does not allow changes'), 'grant is read-only');
  return { allowed: true, row };
}
