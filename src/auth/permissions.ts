/**
 * Who may do what to one recording. Owners and admins: everything their role allows; users with a
 * read grant: metadata and audio; auditors: metadata of everyone, never audio, never changes;
 * anyone else: 404, so existence is not disclosed. Every denial is audited.
 */
import { audit, type AppContext } from '../context';
import { findRecording, hasReadGrant, type RecordingRow } from '../db/recordings';
import { AppError, notFound } from '../errors';

export type Access = 'metadata' | 'audio' | 'change' | 'admin';

/** Load the recording for `access` by the caller, or throw 404/403 (audited). */
export async function loadRecordingFor(c: AppContext, id: string, access: Access, action: string): Promise<RecordingRow> {
  const principal = c.get('principal');
  const db = c.get('db');
  const row = await findRecording(db, id);
  const deny = async (error: AppError, reason: string) => {
    await audit(c, { action, recordingId: id, outcome: 'denied', details: { reason } });
    throw error;
  };
  if (!row) return deny(notFound(), 'not found');
  const owner = row.userId === principal.id;
  if (principal.role === 'admin') return row;
  if (principal.role === 'auditor') {
    if (access === 'metadata') return row;
    return deny(new AppError('forbidden', access === 'audio' ? 'Auditors may not access audio' : 'Auditors may not change recordings'), `auditor ${access}`);
  }
  if (!owner && !(await hasReadGrant(db, id, principal.id))) return deny(notFound(), 'not owner');
  if (access === 'admin') return deny(new AppError('forbidden', 'Only admins may do this'), 'not admin');
  if (!owner && access === 'change') return deny(new AppError('forbidden', 'A read grant does not allow changes'), 'grant is read-only');
  return row;
}
