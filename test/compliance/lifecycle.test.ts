/**
 * The lifecycle routes through the Worker: archive and restore (owner or admin), audio refused
 * while archived, legal hold (admin only) with its history, and a held recording surviving DELETE.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { settleAudit } from '../support/audit';
import { as, call } from '../support/auth';
import { randomBytes, withMagic } from '../support/audio';
import { bytesOf, equalBytes, uploadOk } from '../support/recordings';

interface RecordingBody {
  id: string;
  storageTier: string;
  legalHold: boolean;
  renditions: string[];
}
interface ErrorBody {
  error: { code: string; message: string };
}

const originalKey = (id: string) => `recordings/${id}/original.enc`;

async function readyRecording(owner: string, bytes = withMagic('wav', 40_000)): Promise<{ id: string; bytes: Uint8Array }> {
  const { id } = await uploadOk(owner, bytes);
  await env.DB.prepare("update recordings set status = 'ready' where id = ?").bind(id).run();
  return { id, bytes };
}

/** A rendition object and its row, so that tier changes can be seen to move renditions too. */
async function addRendition(id: string): Promise<string> {
  const key = `recordings/${id}/low.enc`;
  await env.RECORDINGS.put(key, randomBytes(2048), { customMetadata: { tier: 'hot' } });
  await env.DB.prepare(
    "insert into renditions (recording_id, quality, object_key, format, content_type, size, ciphertext_size, created_at) values (?, 'low', ?, 'webm', 'audio/webm', 2000, 2048, ?)",
  )
    .bind(id, key, new Date().toISOString())
    .run();
  return key;
}

async function post(path: string, headers: Record<string, string>, body?: unknown) {
  return call(path, {
    method: 'POST',
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function auditActions(recordingId: string): Promise<string[]> {
  await settleAudit();
  const { results } = await env.DB.prepare('select action, outcome, actor from audit_events where recording_id = ? order by at, shard, seq').bind(recordingId).all<{ action: string; outcome: string; actor: string }>();
  return results.map((r) => `${r.action}:${r.outcome}:${r.actor}`);
}

describe('archive and restore', () => {
  it('archive makes audio answer 409 archived; restore brings it back byte-exact', async () => {
    const owner = 'arch-owner';
    const { id, bytes } = await readyRecording(owner);
    const renditionKey = await addRendition(id);

    const archived = await post(`/api/v1/lifecycle/${id}/archive`, await as(owner));
    expect(archived.status).toBe(200);
    const body = (await archived.json()) as RecordingBody;
    expect(body.storageTier).toBe('archive');
    expect(body.renditions).toEqual(['low']);
    for (const key of [originalKey(id), renditionKey]) {
      const head = await env.RECORDINGS.head(key);
      expect(head?.customMetadata?.tier, key).toBe('archive');
    }

    for (const path of ['/download', '/stream', '/playback-url']) {
      const res = await call(`/api/v1/recordings/${id}${path}`, { headers: await as(owner) });
      expect(res.status, path).toBe(409);
      expect(((await res.json()) as ErrorBody).error.code, path).toBe('archived');
    }
    const meta = (await (await call(`/api/v1/recordings/${id}`, { headers: await as(owner) })).json()) as RecordingBody;
    expect(meta.storageTier).toBe('archive');

    const restored = await post(`/api/v1/lifecycle/${id}/restore`, await as(owner));
    expect(restored.status).toBe(200);
    expect(((await restored.json()) as RecordingBody).storageTier).toBe('hot');
    for (const key of [originalKey(id), renditionKey]) {
      const head = await env.RECORDINGS.head(key);
      expect(head?.customMetadata?.tier, key).toBe('hot');
    }
    const download = await call(`/api/v1/recordings/${id}/download`, { headers: await as(owner) });
    expect(download.status).toBe(200);
    expect(equalBytes(await bytesOf(download), bytes)).toBe(true);

    const actions = await auditActions(id);
    expect(actions).toContain(`recording.archive:success:${owner}`);
    expect(actions).toContain(`recording.restore:success:${owner}`);
    expect(actions).toContain(`recording.download:success:${owner}`);
  });

  it('an admin may archive and restore anyone’s recording', async () => {
    const { id } = await readyRecording('arch-other');
    expect((await post(`/api/v1/lifecycle/${id}/archive`, await as('arch-admin', 'admin'))).status).toBe(200);
    expect((await post(`/api/v1/lifecycle/${id}/restore`, await as('arch-admin', 'admin'))).status).toBe(200);
  });

  it('auditors and read grantees get 403, other users 404, and nothing changes', async () => {
    const { id } = await readyRecording('arch-guarded');
    await env.DB.prepare("insert into recording_permissions (recording_id, grantee_user_id, permission, granted_by, granted_at) values (?, 'arch-reader', 'read', 'arch-guarded', ?)")
      .bind(id, new Date().toISOString())
      .run();
    for (const action of ['archive', 'restore']) {
      const auditor = await post(`/api/v1/lifecycle/${id}/${action}`, await as('arch-auditor', 'auditor'));
      expect(auditor.status, action).toBe(403);
      expect(((await auditor.json()) as ErrorBody).error.code).toBe('forbidden');
      expect((await post(`/api/v1/lifecycle/${id}/${action}`, await as('arch-reader'))).status, action).toBe(403);
      expect((await post(`/api/v1/lifecycle/${id}/${action}`, await as('arch-stranger'))).status, action).toBe(404);
    }
    expect((await env.RECORDINGS.head(originalKey(id)))?.customMetadata?.tier).toBe('hot');
    expect(await auditActions(id)).toContain('recording.archive:denied:arch-auditor');
  });

  it('archiving an archived recording and restoring a hot one answer 200 unchanged', async () => {
    const owner = 'arch-idem';
    const { id } = await readyRecording(owner);
    expect(((await (await post(`/api/v1/lifecycle/${id}/restore`, await as(owner))).json()) as RecordingBody).storageTier).toBe('hot');
    await post(`/api/v1/lifecycle/${id}/archive`, await as(owner));
    const again = await post(`/api/v1/lifecycle/${id}/archive`, await as(owner));
    expect(again.status).toBe(200);
    expect(((await again.json()) as RecordingBody).storageTier).toBe('archive');
  });

  it('archives at any status but recording: 409 conflict during a live call or while a restore is pending', async () => {
    const owner = 'arch-busy';
    const { id } = await readyRecording(owner);
    await env.DB.prepare("update recordings set status = 'recording' where id = ?").bind(id).run();
    const live = await post(`/api/v1/lifecycle/${id}/archive`, await as(owner));
    expect(live.status).toBe(409);
    expect(((await live.json()) as ErrorBody).error.code).toBe('conflict');
    expect(await auditActions(id)).toContain(`recording.archive:denied:${owner}`);

    for (const status of ['processing', 'failed']) {
      await env.DB.prepare("update recordings set status = ?, storage_tier = 'hot' where id = ?").bind(status, id).run();
      const archived = await post(`/api/v1/lifecycle/${id}/archive`, await as(owner));
      expect(archived.status, status).toBe(200);
      expect(((await archived.json()) as RecordingBody).storageTier, status).toBe('archive');
      expect((await env.RECORDINGS.head(originalKey(id)))?.customMetadata?.tier, status).toBe('archive');
    }

    await env.DB.prepare("update recordings set status = 'ready', storage_tier = 'archive', pending_tier = 'hot' where id = ?").bind(id).run();
    const pending = await post(`/api/v1/lifecycle/${id}/archive`, await as(owner));
    expect(pending.status).toBe(409);
    expect((await call(`/api/v1/recordings/${id}/download`, { headers: await as(owner) })).status).toBe(409);
    // Restoring again polls the provider; R2 is immediate, so this completes the restore.
    const poll = await post(`/api/v1/lifecycle/${id}/restore`, await as(owner));
    expect(poll.status).toBe(200);
    expect(((await poll.json()) as RecordingBody).storageTier).toBe('hot');
    expect((await call(`/api/v1/recordings/${id}/download`, { headers: await as(owner) })).status).toBe(200);
  });

  it('answers 404 for an id that does not exist', async () => {
    expect((await post('/api/v1/lifecycle/rec_00000000000000000000000000/archive', await as('x', 'admin'))).status).toBe(404);
  });
});

describe('legal hold', () => {
  it('only admins place and release it; the owner and auditors get 403, other users 404', async () => {
    const owner = 'hold-owner';
    const { id } = await readyRecording(owner);
    for (const method of ['POST', 'DELETE']) {
      const path = `/api/v1/lifecycle/${id}/legal-hold`;
      const byOwner = await call(path, { method, headers: await as(owner) });
      expect(byOwner.status, method).toBe(403);
      expect(((await byOwner.json()) as ErrorBody).error.code).toBe('forbidden');
      expect((await call(path, { method, headers: await as('hold-auditor', 'auditor') })).status, method).toBe(403);
      expect((await call(path, { method, headers: await as('hold-stranger') })).status, method).toBe(404);
    }
    const row = await env.DB.prepare('select legal_hold from recordings where id = ?').bind(id).first<{ legal_hold: number }>();
    expect(row?.legal_hold).toBe(0);
    expect((await env.DB.prepare('select count(*) as n from legal_holds where recording_id = ?').bind(id).first<{ n: number }>())?.n).toBe(0);
    expect((await call('/api/v1/lifecycle/rec_00000000000000000000000000/legal-hold', { method: 'POST', headers: await as('hold-admin', 'admin') })).status).toBe(404);
  });

  it('keeps a history of who placed and released each hold, when and why', async () => {
    const { id } = await readyRecording('hold-history');
    const placed = await post(`/api/v1/lifecycle/${id}/legal-hold`, await as('hold-admin', 'admin'), { reason: 'Case 2026-17' });
    expect(placed.status).toBe(200);
    expect(((await placed.json()) as RecordingBody).legalHold).toBe(true);
    // Placing it again changes nothing: the open hold keeps its reason.
    const again = await post(`/api/v1/lifecycle/${id}/legal-hold`, await as('other-admin', 'admin'), { reason: 'ignored' });
    expect(again.status).toBe(200);

    const released = await call(`/api/v1/lifecycle/${id}/legal-hold`, { method: 'DELETE', headers: await as('release-admin', 'admin') });
    expect(released.status).toBe(200);
    expect(((await released.json()) as RecordingBody).legalHold).toBe(false);
    expect((await call(`/api/v1/lifecycle/${id}/legal-hold`, { method: 'DELETE', headers: await as('release-admin', 'admin') })).status).toBe(200);
    // A second hold without a body (no reason).
    expect((await post(`/api/v1/lifecycle/${id}/legal-hold`, await as('hold-admin', 'admin'))).status).toBe(200);

    const history = await call(`/api/v1/lifecycle/${id}/legal-hold`, { headers: await as('hold-auditor', 'auditor') });
    expect(history.status).toBe(200);
    const { legalHold, holds } = (await history.json()) as {
      legalHold: boolean;
      holds: { reason: string | null; placedBy: string; placedAt: string; releasedBy: string | null; releasedAt: string | null }[];
    };
    expect(legalHold).toBe(true);
    expect(holds).toHaveLength(2);
    expect(holds[0]).toMatchObject({ reason: null, placedBy: 'hold-admin', releasedBy: null, releasedAt: null });
    expect(holds[1]).toMatchObject({ reason: 'Case 2026-17', placedBy: 'hold-admin', releasedBy: 'release-admin' });
    expect(Date.parse(holds[1]!.releasedAt!)).toBeGreaterThanOrEqual(Date.parse(holds[1]!.placedAt));
    expect((await call(`/api/v1/lifecycle/${id}/legal-hold`, { headers: await as('hold-history') })).status).toBe(403);

    const actions = await auditActions(id);
    expect(actions).toContain('recording.legal_hold:success:hold-admin');
    expect(actions).toContain('recording.legal_hold_release:success:release-admin');
    expect(actions).toContain('recording.legal_hold_history:denied:hold-history');
  });

  it('a held recording survives DELETE (409 legal_hold) until the hold is released', async () => {
    const owner = 'hold-delete';
    const { id } = await readyRecording(owner);
    await post(`/api/v1/lifecycle/${id}/legal-hold`, await as('hold-admin', 'admin'), { reason: 'litigation' });
    for (const who of [await as(owner), await as('hold-admin', 'admin')]) {
      const res = await call(`/api/v1/recordings/${id}`, { method: 'DELETE', headers: who });
      expect(res.status).toBe(409);
      expect(((await res.json()) as ErrorBody).error.code).toBe('legal_hold');
    }
    expect(await env.RECORDINGS.head(originalKey(id))).not.toBeNull();
    await call(`/api/v1/lifecycle/${id}/legal-hold`, { method: 'DELETE', headers: await as('hold-admin', 'admin') });
    expect((await call(`/api/v1/recordings/${id}`, { method: 'DELETE', headers: await as(owner) })).status).toBe(204);
    expect(await env.RECORDINGS.head(originalKey(id))).toBeNull();
    // The history outlives the recording.
    expect((await env.DB.prepare('select count(*) as n from legal_holds where recording_id = ?').bind(id).first<{ n: number }>())?.n).toBe(1);
  });

  it('releasing a hold destroys the unredacted originals it kept', async () => {
    const { id } = await readyRecording('hold-originals');
    await post(`/api/v1/lifecycle/${id}/legal-hold`, await as('hold-admin', 'admin'), { reason: 'keep the evidence' });
    const key = `recordings/${id}/original-r1-kept.enc`;
    await env.RECORDINGS.put(key, randomBytes(100));
    await env.DB.prepare("insert into redaction_originals (object_key, recording_id, size, ciphertext_size, content_type, redaction, created_at) values (?, ?, 60, 100, 'audio/ogg', 1, ?)")
      .bind(key, id, new Date().toISOString())
      .run();
    await call(`/api/v1/lifecycle/${id}/legal-hold`, { method: 'DELETE', headers: await as('hold-admin', 'admin') });
    expect(await env.RECORDINGS.head(key)).toBeNull();
    expect(await env.DB.prepare('select 1 from redaction_originals where recording_id = ?').bind(id).first()).toBeNull();
  });

  it('rejects a reason that is not a string with 400 naming the field', async () => {
    const { id } = await readyRecording('hold-bad');
    const res = await post(`/api/v1/lifecycle/${id}/legal-hold`, await as('hold-admin', 'admin'), { reason: 42 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.message).toMatch(/^reason/);
  });
});
