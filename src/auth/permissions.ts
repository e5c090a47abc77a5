/**
 * Who may do what, on plain values. One recording: owners and admins everything their role allows;
 * users with a read grant metadata and audio; auditors metadata of everyone, never audio, never
 * changes; anyone else gets 404, so existence is not disclosed. Recording a call (upload and both
 * live protocols): `assertMayRecord`. Listings, grants, legal-hold history and GDPR subjects: the
 * `Decision` functions below. The caller audits every denial (the HTTP routes through
 * `loadRecordingFor` and `enforce` in src/auth/middleware.ts).
 */
import type { Database } from '../db/client';
import type { ConsentState } from '../db/consents';
import { findRecording, hasReadGrant, type RecordingRow } from '../db/recordings';
import { findRetainedTranscriptRecording } from '../db/transcripts';
import { AppError, notFound } from '../errors';
import { canReadAllMetadata, type Principal } from './principal';

export type Access = 'metadata' | 'audio' | 'change' | 'admin';

/** A refusal names the recording's owner when it exists (`owner`), for the audit log only: the caller never sees it. */
export type AccessDecision = { allowed: true; row: RecordingRow } | { allowed: false; error: AppError; reason: string; owner?: string };

const denied = (error: AppError, reason: string, owner?: string): AccessDecision => ({ allowed: false, error, reason, owner });

export interface AccessOptions {
  /**
   * Also find a recording whose audio retention deleted while its transcript is kept (reading that
   * transcript): then only its owner and admins, since read grants end with the audio.
   */
  retainedTranscript?: boolean;
}

/** May `principal` have `access` to recording `id`? The row when so; the error to answer and the reason to audit when not. */
export async function decideRecordingAccess(db: Database, principal: Pick<Principal, 'id' | 'role'>, id: string, access: Access, options: AccessOptions = {}): Promise<AccessDecision> {
  const row = (await findRecording(db, id)) ?? (options.retainedTranscript ? await findRetainedTranscriptRecording(db, id) : undefined);
  if (!row) return denied(notFound(), 'not found');
  const owner = row.userId === principal.id;
  if (principal.role === 'admin') return { allowed: true, row };
  if (principal.role === 'auditor') {
    if (access === 'metadata') return { allowed: true, row };
    return denied(new AppError('forbidden', access === 'audio' ? 'Auditors may not access audio' : 'Auditors may not change recordings'), `auditor ${access}`, row.userId);
  }
  if (!owner && (row.deletedAt !== null || !(await hasReadGrant(db, id, principal.id)))) return denied(notFound(), 'not owner', row.userId);
  if (access === 'admin') return denied(new AppError('forbidden', 'Only admins may do this'), 'not admin', row.userId);
  if (!owner && access === 'change') return denied(new AppError('forbidden', 'A read grant does not allow changes'), 'grant is read-only', row.userId);
  return { allowed: true, row };
}

/** Why recording was refused, for the audit log (the client sees the error's code and message). */
export type RefusalReason = 'role' | 'owner' | 'consent';

export class MayNotRecord extends AppError {
  constructor(readonly reason: RefusalReason, code: 'forbidden' | 'consent_required', message: string) {
    super(code, message);
  }
}

/**
 * May `principal` record a call owned by `ownerId`, whose consent is `consent`? Throws `MayNotRecord`:
 * auditors never record; only admins (and services) record for another user; the owner must consent.
 * (`role` is a plain string: a live call's owner carries it as its token stated it.)
 */
export function assertMayRecord(principal: { id: string; role: string }, ownerId: string, consent: Pick<ConsentState, 'consents'>): void {
  if (principal.role === 'auditor') throw new MayNotRecord('role', 'forbidden', 'Auditors may read metadata and the audit log, never record a call');
  if (ownerId !== principal.id && principal.role !== 'admin') throw new MayNotRecord('owner', 'forbidden', 'Only admins and services may record for another user');
  if (!consent.consents.recording) throw new MayNotRecord('consent', 'consent_required', 'The user has not consented to recording');
}

/** A rule's answer on plain values: allowed, or the error to answer and the reason to audit. */
export type Decision = { allowed: true } | { allowed: false; error: AppError; reason: string };

const ALLOWED: Decision = { allowed: true };
const refused = (error: AppError, reason: string): Decision => ({ allowed: false, error, reason });

/** Whose recordings a listing by `principal` shows: everyone's (admins, auditors), or those it owns or was granted. */
export const recordingsVisibleTo = (principal: Pick<Principal, 'id' | 'role'>): string | undefined => (canReadAllMetadata(principal) ? undefined : principal.id);

/**
 * May `principal` list recordings filtered by owner `userId` and, with `transcriptSearch`, by
 * transcript words? Another user's recordings only for admins and auditors; a transcript search
 * never for auditors, since transcripts are the calls' content.
 */
export function mayListRecordings(principal: Pick<Principal, 'id' | 'role'>, query: { userId?: string; transcriptSearch: boolean }): Decision {
  if (query.userId && query.userId !== principal.id && !canReadAllMetadata(principal)) return refused(new AppError('forbidden', "Only admins and auditors may list another user's recordings"), 'not admin');
  if (query.transcriptSearch && principal.role === 'auditor') return refused(new AppError('forbidden', 'Auditors may not search transcripts: they are the calls’ content'), 'transcript search');
  return ALLOWED;
}

/** May `principal`, who may read the recording's metadata, see who else may read it? Its owner, admins and auditors; not a grantee. */
export function mayListGrants(principal: Pick<Principal, 'id' | 'role'>, ownerId: string): Decision {
  if (ownerId === principal.id || canReadAllMetadata(principal)) return ALLOWED;
  return refused(new AppError('forbidden', 'Only the owner, admins and auditors may see who else can read this recording'), 'grantee');
}

/** May `principal` read a recording's legal-hold history? Admins and auditors only. */
export function mayReadLegalHoldHistory(principal: Pick<Principal, 'role'>): Decision {
  if (canReadAllMetadata(principal)) return ALLOWED;
  return refused(new AppError('forbidden', 'Only admins and auditors may read the legal-hold history'), 'not admin or auditor');
}

/**
 * The data subject of a GDPR request by `principal` naming `requested` (or nobody): the caller
 * itself, or for admins any user. A service key acts for nobody in particular, so it must name the
 * user (400).
 */
export function decideGdprSubject(principal: Principal, requested: string | undefined): (Decision & { allowed: false }) | { allowed: true; userId: string } {
  if (requested === undefined || requested === principal.id) {
    if (principal.kind === 'service' && requested === undefined) throw new AppError('invalid_request', 'userId: is required for a service caller');
    return { allowed: true, userId: principal.id };
  }
  if (principal.role !== 'admin') return { allowed: false, error: new AppError('forbidden', "Only admins may act on another user's data"), reason: 'not admin' };
  return { allowed: true, userId: requested };
}
