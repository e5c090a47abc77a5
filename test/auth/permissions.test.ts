/**
 * The rules of src/auth/permissions.ts that need no database, on plain values: who may record a
 * call, list recordings, see a recording's grants, read its legal-hold history, and whose data a
 * GDPR request is about. The routes that enforce them are tested over HTTP (test/recordings/*,
 * test/compliance/*, test/node/contract-http.test.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  assertMayRecord,
  decideGdprSubject,
  MayNotRecord,
  mayListGrants,
  mayListRecordings,
  mayReadLegalHoldHistory,
  recordingsVisibleTo,
  type Decision,
} from '../../src/auth/permissions';
import type { Principal } from '../../src/auth/principal';
import { AppError } from '../../src/errors';

const user: Principal = { id: 'u1', role: 'user', kind: 'user' };
const admin: Principal = { id: 'a1', role: 'admin', kind: 'user' };
const auditor: Principal = { id: 'x1', role: 'auditor', kind: 'user' };
const service: Principal = { id: 'service:k1', role: 'admin', kind: 'service' };
const allowed = { consents: { recording: true, transcription: true } };
const refused = { consents: { recording: false, transcription: true } };

function refusalOf(run: () => void): { reason: string; code: string } | null {
  try {
    run();
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(MayNotRecord);
    return { reason: (error as MayNotRecord).reason, code: (error as MayNotRecord).code };
  }
}

/** A decision as the route answers it: null when allowed, else the error's code and the audited reason. */
const answer = (decision: Decision) => (decision.allowed ? null : { code: decision.error.code, status: decision.error.status, reason: decision.reason });

describe('assertMayRecord', () => {
  it('lets a user record for themself and an admin for anyone, refuses auditors, other users and a refused consent', () => {
    expect(refusalOf(() => assertMayRecord(user, 'u1', allowed))).toBeNull();
    expect(refusalOf(() => assertMayRecord(admin, 'u2', allowed))).toBeNull();
    expect(refusalOf(() => assertMayRecord(auditor, 'x1', allowed))).toEqual({ reason: 'role', code: 'forbidden' });
    expect(refusalOf(() => assertMayRecord(user, 'u2', allowed))).toEqual({ reason: 'owner', code: 'forbidden' });
    expect(refusalOf(() => assertMayRecord(user, 'u1', refused))).toEqual({ reason: 'consent', code: 'consent_required' });
    // An admin does not override the owner's refusal.
    expect(refusalOf(() => assertMayRecord(admin, 'u2', refused))).toEqual({ reason: 'consent', code: 'consent_required' });
  });
});

describe('listing recordings', () => {
  it("shows admins and auditors everyone's recordings, a user only its own and those granted to it", () => {
    expect(recordingsVisibleTo(admin)).toBeUndefined();
    expect(recordingsVisibleTo(auditor)).toBeUndefined();
    expect(recordingsVisibleTo(user)).toBe('u1');
  });

  it("lets only admins and auditors filter by another user, and never lets auditors search transcripts", () => {
    expect(answer(mayListRecordings(user, { transcriptSearch: true }))).toBeNull();
    expect(answer(mayListRecordings(user, { userId: 'u1', transcriptSearch: false }))).toBeNull();
    expect(answer(mayListRecordings(user, { userId: 'u2', transcriptSearch: false }))).toEqual({ code: 'forbidden', status: 403, reason: 'not admin' });
    expect(answer(mayListRecordings(admin, { userId: 'u2', transcriptSearch: true }))).toBeNull();
    expect(answer(mayListRecordings(auditor, { userId: 'u2', transcriptSearch: false }))).toBeNull();
    expect(answer(mayListRecordings(auditor, { transcriptSearch: true }))).toEqual({ code: 'forbidden', status: 403, reason: 'transcript search' });
  });
});

describe('grants and legal-hold history', () => {
  it("shows a recording's grants to its owner, admins and auditors, not to a grantee", () => {
    expect(answer(mayListGrants(user, 'u1'))).toBeNull();
    expect(answer(mayListGrants(admin, 'u1'))).toBeNull();
    expect(answer(mayListGrants(auditor, 'u1'))).toBeNull();
    expect(answer(mayListGrants(user, 'u2'))).toEqual({ code: 'forbidden', status: 403, reason: 'grantee' });
  });

  it('shows the legal-hold history to admins and auditors only', () => {
    expect(answer(mayReadLegalHoldHistory(admin))).toBeNull();
    expect(answer(mayReadLegalHoldHistory(auditor))).toBeNull();
    expect(answer(mayReadLegalHoldHistory(user))).toEqual({ code: 'forbidden', status: 403, reason: 'not admin or auditor' });
  });
});

describe('GDPR subject', () => {
  it('is the caller, or anyone an admin names; another user named by a non-admin is refused', () => {
    expect(decideGdprSubject(user, undefined)).toEqual({ allowed: true, userId: 'u1' });
    expect(decideGdprSubject(user, 'u1')).toEqual({ allowed: true, userId: 'u1' });
    expect(decideGdprSubject(admin, 'u2')).toEqual({ allowed: true, userId: 'u2' });
    expect(decideGdprSubject(service, 'u2')).toEqual({ allowed: true, userId: 'u2' });
    const denied = decideGdprSubject(auditor, 'u2');
    expect(denied.allowed).toBe(false);
    if (!denied.allowed) expect({ code: denied.error.code, reason: denied.reason }).toEqual({ code: 'forbidden', reason: 'not admin' });
  });

  it('makes a service key name the user (400), since it acts for nobody in particular', () => {
    expect(() => decideGdprSubject(service, undefined)).toThrow(AppError);
    expect(() => decideGdprSubject(service, undefined)).toThrow('userId: is required for a service caller');
  });
});
