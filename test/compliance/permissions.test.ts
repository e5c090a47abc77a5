/**
 * Per-recording read grants: who may grant and revoke (owner, admin) and who is refused how
 * (grantee and auditor 403, stranger 404, no credentials 401); a grant opens every read route and
 * nothing else; revoking closes them again; each change is audited and shows in the export.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { settleAudit } from '../support/audit';
import { randomBytes, withMagic } from '../support/audio';
import { API_KEY, as, call } from '../support/auth';
import { bytesOf, equalBytes, uploadOk } from '../support/recordings';

const owner = 'perm-owner';
const grantee = 'perm-grantee';
let id: string;
let plain: Uint8Array;

interface GrantList {
  recordingId: string;
  grants: { userId: string; permission: string; grantedBy: string; grantedAt: string }[];
}

async function grant(who: Record<string, string>, userId: string, recordingId = id) {
  return call(`/api/v1/recordings/${recordingId}/permissions`, { method: 'POST', headers: { ...who, 'content-type': 'application/json' }, body: JSON.stringify({ userId, permission: 'read' }) });
}

async function revoke(who: Record<string, string>, userId: string) {
  return call(`/api/v1/recordings/${id}/permissions?userId=${encodeURIComponent(userId)}`, { method: 'DELETE', headers: who });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

/** Every read route as `who`: status codes in a fixed order. */
async function readStatuses(who: string): Promise<Record<string, number>> {
  const headers = await as(who);
  const [metadata, download, stream, playbackUrl] = await Promise.all([
    call(`/api/v1/recordings/${id}`, { headers }),
    call(`/api/v1/recordings/${id}/download`, { headers }),
    call(`/api/v1/recordings/${id}/stream`, { headers: { ...headers, range: 'bytes=0-99' } }),
    call(`/api/v1/recordings/${id}/playback-url`, { headers }),
  ]);
  await Promise.all([metadata, download, stream, playbackUrl].map((r) => r.body?.cancel()));
  return { metadata: metadata.status, download: download.status, stream: stream.status, playbackUrl: playbackUrl.status };
}

beforeAll(async () => {
  plain = withMagic('wav', 40_000);
  plain.set(randomBytes(plain.length - 12), 12);
  id = (await uploadOk(owner, plain)).id;
});

describe('granting', () => {
  it('the owner grants read access and gets the list of grants back; granting again changes nothing', async () => {
    const res = await grant(await as(owner), grantee);
    expect(res.status).toBe(200);
    const body = (await res.json()) as GrantList;
    expect(body.recordingId).toBe(id);
    expect(body.grants).toEqual([{ userId: grantee, permission: 'read', grantedBy: owner, grantedAt: expect.any(String) }]);
    const again = (await (await grant(await as('perm-admin', 'admin'), grantee)).json()) as GrantList;
    expect(again.grants).toEqual(body.grants);
  });

  it('an admin and a service may grant too', async () => {
    expect((await grant(await as('perm-admin', 'admin'), 'perm-by-admin')).status).toBe(200);
    expect((await grant({ 'x-api-key': API_KEY }, 'perm-by-service')).status).toBe(200);
    const list = (await (await call(`/api/v1/recordings/${id}/permissions`, { headers: await as(owner) })).json()) as GrantList;
    expect(list.grants.map((g) => g.userId).sort()).toEqual(['perm-by-admin', 'perm-by-service', grantee].sort());
    for (const userId of ['perm-by-admin', 'perm-by-service']) expect((await revoke(await as(owner), userId)).status).toBe(200);
  });

  it('refuses a grantee and an auditor (403), a stranger (404) and no credentials (401)', async () => {
    const grantee403 = await grant(await as(grantee), 'perm-friend-of-grantee');
    expect([grantee403.status, await errorCode(grantee403)]).toEqual([403, 'forbidden']);
    const auditor403 = await grant(await as('perm-auditor', 'auditor'), 'perm-x');
    expect([auditor403.status, await errorCode(auditor403)]).toEqual([403, 'forbidden']);
    const stranger404 = await grant(await as('perm-stranger'), 'perm-stranger');
    expect([stranger404.status, await errorCode(stranger404)]).toEqual([404, 'not_found']);
    expect((await grant({}, 'perm-x')).status).toBe(401);
    for (const who of [await as(grantee), await as('perm-auditor', 'auditor')]) expect((await revoke(who, grantee)).status).toBe(403);
    expect((await revoke(await as('perm-stranger'), grantee)).status).toBe(404);
    const missing = await grant(await as(owner), grantee, 'rec_00000000000000000000000000');
    expect(missing.status).toBe(404);
  });

  it('validates the body and refuses a grant to the owner', async () => {
    const noUser = await call(`/api/v1/recordings/${id}/permissions`, { method: 'POST', headers: { ...(await as(owner)), 'content-type': 'application/json' }, body: JSON.stringify({ permission: 'read' }) });
    expect(noUser.status).toBe(400);
    expect(((await noUser.json()) as { error: { message: string } }).error.message).toMatch(/^userId: /);
    const write = await call(`/api/v1/recordings/${id}/permissions`, { method: 'POST', headers: { ...(await as(owner)), 'content-type': 'application/json' }, body: JSON.stringify({ userId: grantee, permission: 'write' }) });
    expect(write.status).toBe(400);
    const toOwner = await grant(await as(owner), owner);
    expect([toOwner.status, await errorCode(toOwner)]).toEqual([400, 'invalid_request']);
    expect((await call(`/api/v1/recordings/${id}/permissions`, { method: 'DELETE', headers: await as(owner) })).status).toBe(400);
  });

  it('the list of grants is for the owner, admins and auditors, not for a grantee', async () => {
    expect((await call(`/api/v1/recordings/${id}/permissions`, { headers: await as('perm-auditor', 'auditor') })).status).toBe(200);
    expect((await call(`/api/v1/recordings/${id}/permissions`, { headers: await as(grantee) })).status).toBe(403);
    expect((await call(`/api/v1/recordings/${id}/permissions`, { headers: await as('perm-stranger') })).status).toBe(404);
  });
});

describe('a grant', () => {
  it('opens every read route to the grantee: metadata, download, stream, playback URL, listing', async () => {
    expect(await readStatuses(grantee)).toEqual({ metadata: 200, download: 200, stream: 206, playbackUrl: 200 });
    const headers = await as(grantee);
    const download = await call(`/api/v1/recordings/${id}/download`, { headers });
    expect(equalBytes(await bytesOf(download), plain)).toBe(true);
    const stream = await call(`/api/v1/recordings/${id}/stream`, { headers: { ...headers, range: 'bytes=100-199' } });
    expect(equalBytes(await bytesOf(stream), plain.subarray(100, 200))).toBe(true);
    const { url } = (await (await call(`/api/v1/recordings/${id}/playback-url`, { headers })).json()) as { url: string };
    const played = await call(url, { headers: { range: 'bytes=0-9' } });
    expect(played.status).toBe(206);
    expect(equalBytes(await bytesOf(played), plain.subarray(0, 10))).toBe(true);
    const list = (await (await call('/api/v1/recordings', { headers })).json()) as { items: { id: string }[] };
    expect(list.items.map((r) => r.id)).toContain(id);
  });

  it('does not allow changes: deleting the recording is 403, and it stays', async () => {
    const res = await call(`/api/v1/recordings/${id}`, { method: 'DELETE', headers: await as(grantee) });
    expect([res.status, await errorCode(res)]).toEqual([403, 'forbidden']);
    expect((await call(`/api/v1/recordings/${id}`, { headers: await as(owner) })).status).toBe(200);
  });

  it('is listed in the export of the owner and of the grantee', async () => {
    const ownerExport = (await (await call('/api/v1/gdpr/export', { headers: await as(owner) })).json()) as { permissions: { grantedToOthers: { recordingId: string; userId: string }[] } };
    expect(ownerExport.permissions.grantedToOthers).toEqual([expect.objectContaining({ recordingId: id, userId: grantee, grantedBy: owner })]);
    const granteeExport = (await (await call('/api/v1/gdpr/export', { headers: await as(grantee) })).json()) as { permissions: { grantedToSubject: unknown[] }; recordings: unknown[] };
    expect(granteeExport.permissions.grantedToSubject).toEqual([expect.objectContaining({ recordingId: id, userId: grantee, ownerUserId: owner })]);
    // The export holds the subject's own recordings, not those shared with them.
    expect(granteeExport.recordings).toEqual([]);
  });
});

describe('revoking', () => {
  it('closes every read route again (404, existence not disclosed) and is idempotent', async () => {
    const res = await revoke(await as(owner), grantee);
    expect(res.status).toBe(200);
    expect(((await res.json()) as GrantList).grants).toEqual([]);
    expect(await readStatuses(grantee)).toEqual({ metadata: 404, download: 404, stream: 404, playbackUrl: 404 });
    const list = (await (await call('/api/v1/recordings', { headers: await as(grantee) })).json()) as { items: { id: string }[] };
    expect(list.items.map((r) => r.id)).not.toContain(id);
    expect((await revoke(await as('perm-admin', 'admin'), grantee)).status).toBe(200);
  });

  it('every grant, revocation and refusal is audited', async () => {
    await settleAudit();
    const events = (await (await call(`/api/v1/audit?recordingId=${id}&limit=500`, { headers: await as('perm-auditor', 'auditor') })).json()) as {
      items: { action: string; outcome: string; actor: string; subjectUserId: string | null; details: Record<string, unknown> | null }[];
    };
    const seen = (action: string, outcome: string, actor?: string) => events.items.some((e) => e.action === action && e.outcome === outcome && (actor === undefined || e.actor === actor));
    expect(seen('recording.permission.grant', 'success', owner)).toBe(true);
    expect(seen('recording.permission.grant', 'denied', grantee)).toBe(true);
    expect(seen('recording.permission.grant', 'denied', 'perm-stranger')).toBe(true);
    expect(seen('recording.permission.revoke', 'success', owner)).toBe(true);
    expect(seen('recording.permission.revoke', 'denied', 'perm-auditor')).toBe(true);
    expect(seen('recording.download', 'success', grantee)).toBe(true);
    expect(seen('recording.read', 'denied', grantee)).toBe(true);
    const granted = events.items.find((e) => e.action === 'recording.permission.grant' && e.outcome === 'success' && e.actor === owner)!;
    expect(granted.subjectUserId).toBe(grantee);
  });
});
