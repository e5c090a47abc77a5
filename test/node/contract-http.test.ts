/**
 * The contract as a plain HTTP client sees it, against `wrangler dev` (one service for the file):
 * the exact Content-Length on the wire of every audio response (raw headers of Node's `http`),
 * audio never publicly cacheable, signed links that stop working once their grant, row or owner is
 * gone, archive at once after upload (processing finishes, restore brings everything back), and
 * retention by the call's startTime through the cron that `wrangler dev --test-scheduled` exposes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodedSeconds } from '../e2e/audio';
import { API_KEY, bearer, contractClient, expectError, expectExactLength, rawGet } from '../e2e/http-client';
import { startService, type Service } from '../e2e/service';
import { sineWav } from '../support/audio';

const OWNER = 'http-owner';
const DAY = 86_400_000;

let service: Service;
const { api, upload, whenProcessed, signedUrl } = contractClient(() => service.url);

const wav = sineWav(3, 440, 16_000);

beforeAll(async () => {
  service = await startService({ verbose: process.env.WEB_E2E_VERBOSE === '1' });
}, 240_000);

afterAll(async () => {
  await service?.stop();
});

describe('audio over HTTP', () => {
  let id: string;
  beforeAll(async () => {
    id = (await upload(OWNER, wav)).id;
    await whenProcessed(id);
  }, 120_000);

  it('download: 200 with the exact Content-Length (not chunked), byte-exact, as an attachment', async () => {
    const res = await rawGet(api(`/recordings/${id}/download`), await bearer(OWNER));
    expect(res.status).toBe(200);
    expectExactLength(res, 'download');
    expect(res.headers['content-length']).toBe(String(wav.length));
    expect(res.headers['content-type']).toBe('audio/wav');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${id}.wav"`);
    expect(Buffer.compare(res.body, Buffer.from(wav))).toBe(0);
  });

  it('stream: 200 whole and 206 for every range form, each with its exact Content-Length', async () => {
    const who = await bearer(OWNER);
    const whole = await rawGet(api(`/recordings/${id}/stream`), who);
    expect(whole.status).toBe(200);
    expect(whole.headers['accept-ranges']).toBe('bytes');
    expectExactLength(whole, 'stream 200');
    expect(Buffer.compare(whole.body, Buffer.from(wav))).toBe(0);
    for (const [range, start, end] of [
      ['bytes=0-99', 0, 99],
      ['bytes=16380-40000', 16380, 40000],
      [`bytes=${wav.length - 10}-`, wav.length - 10, wav.length - 1],
      ['bytes=-777', wav.length - 777, wav.length - 1],
    ] as const) {
      const part = await rawGet(api(`/recordings/${id}/stream`), { ...who, range });
      expect(part.status, range).toBe(206);
      expect(part.headers['content-range'], range).toBe(`bytes ${start}-${end}/${wav.length}`);
      expectExactLength(part, range);
      expect(part.body.length, range).toBe(end - start + 1);
      expect(Buffer.compare(part.body, Buffer.from(wav.subarray(start, end + 1))), range).toBe(0);
    }
    const outside = await rawGet(api(`/recordings/${id}/stream`), { ...who, range: `bytes=${wav.length}-` });
    expect(outside.status).toBe(416);
    expect(outside.headers['content-range']).toBe(`bytes */${wav.length}`);
  });

  it('renditions: high, low and mp3 with their exact Content-Length, whole and ranged, decodable', async () => {
    const who = await bearer(OWNER);
    for (const quality of ['high', 'low', 'mp3']) {
      const whole = await rawGet(api(`/recordings/${id}/stream?quality=${quality}`), who);
      expect(whole.status, quality).toBe(200);
      expect(whole.headers['x-rendition']).toBe(quality);
      expectExactLength(whole, quality);
      expect(Math.abs((await decodedSeconds(whole.body)) - 3)).toBeLessThan(0.2);
      const tail = await rawGet(api(`/recordings/${id}/stream?quality=${quality}`), { ...who, range: 'bytes=-1000' });
      expect(tail.status).toBe(206);
      expectExactLength(tail, `${quality} 206`);
      expect(Buffer.compare(tail.body, whole.body.subarray(whole.body.length - 1000))).toBe(0);
    }
  });

  it('signed playback: 200 and 206 with exact Content-Length, private and not stored by any cache', async () => {
    const url = await signedUrl(id, await bearer(OWNER));
    const whole = await rawGet(url);
    expect(whole.status).toBe(200);
    expectExactLength(whole, 'signed 200');
    expect(Buffer.compare(whole.body, Buffer.from(wav))).toBe(0);
    const part = await rawGet(url, { range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expectExactLength(part, 'signed 206');
    const low = await rawGet(await signedUrl(id, await bearer(OWNER), 'low'), { range: 'bytes=0-499' });
    expect(low.status).toBe(206);
    expect(low.headers['x-rendition']).toBe('low');
    expectExactLength(low, 'signed low 206');
    const mp3 = await rawGet(await signedUrl(id, await bearer(OWNER), 'mp3'));
    expect(mp3.status).toBe(200);
    expect(mp3.headers['x-rendition']).toBe('mp3');
    expect(mp3.headers['content-type']).toBe('audio/mpeg');
    expectExactLength(mp3, 'signed mp3 200');
  });
});

describe('signed links are checked against the present on each use', () => {
  it('a revoked read grant makes the grantee’s link answer 403', async () => {
    const { id } = await upload(OWNER, wav);
    const grant = await fetch(api(`/recordings/${id}/permissions`), {
      method: 'POST',
      headers: { ...(await bearer(OWNER)), 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'http-grantee' }),
    });
    expect(grant.status).toBe(200);
    const url = await signedUrl(id, await bearer('http-grantee'));
    expect((await rawGet(url, { range: 'bytes=0-9' })).status).toBe(206);
    expect((await fetch(api(`/recordings/${id}/permissions?userId=http-grantee`), { method: 'DELETE', headers: await bearer(OWNER) })).status).toBe(200);
    const refused = await rawGet(url, { range: 'bytes=0-9' });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body.toString()).error.code).toBe('forbidden');
  });

  it('a deleted recording’s link answers 404', async () => {
    const { id } = await upload(OWNER, wav);
    const url = await signedUrl(id, await bearer(OWNER));
    expect((await rawGet(url)).status).toBe(200);
    expect((await fetch(api(`/recordings/${id}`), { method: 'DELETE', headers: await bearer(OWNER) })).status).toBe(204);
    expect((await rawGet(url)).status).toBe(404);
  });

  it('an erased user’s links (and those of the GDPR export) answer 404', async () => {
    const subject = 'http-erased';
    const { id } = await upload(subject, wav);
    const url = await signedUrl(id, await bearer(subject));
    const exported = (await (await fetch(api('/gdpr/export'), { headers: await bearer(subject) })).json()) as { recordings: { id: string; downloadUrl: string }[] };
    const exportUrl = exported.recordings.find((r) => r.id === id)!.downloadUrl;
    expect((await rawGet(exportUrl)).status).toBe(200);
    expect((await fetch(api('/gdpr/data'), { method: 'DELETE', headers: await bearer(subject) })).status).toBe(200);
    expect((await rawGet(url)).status).toBe(404);
    expect((await rawGet(exportUrl)).status).toBe(404);
  });
});

async function auditActions(recordingId: string): Promise<string[]> {
  const res = await fetch(api(`/audit?recordingId=${recordingId}&limit=200`), { headers: { 'x-api-key': API_KEY } });
  return ((await res.json()) as { items: { action: string }[] }).items.map((e) => e.action);
}

describe('archive at once after upload', () => {
  it('is accepted while processing; after restore the original and every rendition are there, byte-exact', async () => {
    const bytes = sineWav(4, 523, 16_000);
    const rec = await upload(OWNER, bytes);
    expect(rec.status).toBe('processing');
    const who = await bearer(OWNER);
    const archived = await fetch(api(`/lifecycle/${rec.id}/archive`), { method: 'POST', headers: who });
    expect(archived.status).toBe(200);
    expect(await archived.json()).toMatchObject({ id: rec.id, storageTier: 'archive' });
    const refused = await rawGet(api(`/recordings/${rec.id}/download`), who);
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body.toString()).error.code).toBe('archived');
    // The queued job either finished into the archive or waited for the restore; both are audited.
    await expect
      .poll(async () => (await auditActions(rec.id)).some((a) => a === 'recording.processed' || a === 'recording.processing_deferred'), { timeout: 60_000, interval: 500 })
      .toBe(true);

    const restored = await fetch(api(`/lifecycle/${rec.id}/restore`), { method: 'POST', headers: who });
    expect(restored.status).toBe(200);
    expect(await restored.json()).toMatchObject({ storageTier: 'hot' });
    const ready = await whenProcessed(rec.id);
    expect(ready.storageTier).toBe('hot');
    expect([...(ready.renditions ?? [])].sort()).toEqual(['high', 'low', 'mp3']);

    const download = await rawGet(api(`/recordings/${rec.id}/download`), who);
    expect(download.status).toBe(200);
    expectExactLength(download, 'download after restore');
    expect(Buffer.compare(download.body, Buffer.from(bytes))).toBe(0);
    for (const quality of ['high', 'low']) {
      const whole = await rawGet(api(`/recordings/${rec.id}/stream?quality=${quality}`), who);
      expect(whole.headers['x-rendition'], quality).toBe(quality);
      expectExactLength(whole, quality);
      const half = Math.floor(whole.body.length / 2);
      const first = await rawGet(api(`/recordings/${rec.id}/stream?quality=${quality}`), { ...who, range: `bytes=0-${half - 1}` });
      const second = await rawGet(api(`/recordings/${rec.id}/stream?quality=${quality}`), { ...who, range: `bytes=${half}-` });
      expect(Buffer.compare(Buffer.concat([first.body, second.body]), whole.body), quality).toBe(0);
      expect(Math.abs((await decodedSeconds(whole.body)) - 4), quality).toBeLessThan(0.2);
    }
  }, 150_000);
});

describe('retention counts from the call’s startTime, through the cron over HTTP', () => {
  it('deletes a recording of a call 40 days ago uploaded today; a held one of the same age stays', async () => {
    const startTime = new Date(Date.now() - 40 * DAY).toISOString();
    const old = await upload('http-retention', wav, startTime);
    const held = await upload('http-retention', wav, startTime);
    await whenProcessed(old.id);
    await whenProcessed(held.id);
    const hold = await fetch(api(`/lifecycle/${held.id}/legal-hold`), { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'e2e' }) });
    expect(hold.status).toBe(200);

    // `wrangler dev --test-scheduled` fires the daily Cron Trigger on this path.
    const cron = await fetch(`${service.url}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent('0 3 * * *')}`);
    expect(cron.status, await cron.text()).toBe(200);

    const gone = await fetch(api(`/recordings/${old.id}`), { headers: { 'x-api-key': API_KEY } });
    expect(gone.status).toBe(404);
    expect((await rawGet(api(`/recordings/${old.id}/download`), { 'x-api-key': API_KEY })).status).toBe(404);
    const kept = await fetch(api(`/recordings/${held.id}`), { headers: { 'x-api-key': API_KEY } });
    expect(kept.status).toBe(200);
    expect(await kept.json()).toMatchObject({ legalHold: true });
    expect(await auditActions(old.id)).toContain('recording.retention_delete');
  }, 150_000);
});

describe('every route of the contract, once, as a plain HTTP client', () => {
  const admin = { 'x-api-key': API_KEY };
  const user = 'http-walker';
  let who: Record<string, string>;
  let id: string;

  beforeAll(async () => {
    who = await bearer(user);
  });

  it('POST /recordings (multipart): 201, the Recording in camelCase and a Location that answers', async () => {
    const form = new FormData();
    form.set('callId', 'walk-1');
    form.set('callerPhone', '+14155550123');
    form.set('receiverPhone', '+442071838750');
    form.set('startTime', '2026-12-01T10:00:00Z');
    form.set('audio', new Blob([wav], { type: 'audio/wav' }), 'call.wav');
    const res = await fetch(api('/recordings'), { method: 'POST', headers: who, body: form });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    for (const field of ['id', 'callId', 'userId', 'callerPhone', 'receiverPhone', 'startTime', 'endTime', 'durationMs', 'format', 'contentType', 'size', 'status', 'storageTier', 'legalHold', 'createdAt']) {
      expect(body, field).toHaveProperty(field);
    }
    expect(body).toMatchObject({ callId: 'walk-1', userId: user, format: 'wav', contentType: 'audio/wav', size: wav.length, status: 'processing', storageTier: 'hot', legalHold: false, endTime: null, durationMs: null });
    id = body.id as string;
    const location = res.headers.get('location');
    expect(location).toBe(`/api/v1/recordings/${id}`);
    expect((await fetch(new URL(location!, service.url), { headers: who })).status).toBe(200);
  });

  it('upload errors: 415 "Invalid file format" by content, 400 naming the field, 401 without or with bad credentials', async () => {
    const query = new URLSearchParams({ callId: 'walk-bad', callerPhone: '+14155550123', receiverPhone: '+442071838750', startTime: '2026-12-01T10:00:00Z' });
    const notAudio = await fetch(api(`/recordings?${query}`), { method: 'POST', headers: { ...who, 'content-type': 'audio/wav' }, body: new TextEncoder().encode('#EXTM3U\nhello, I am not audio at all, just text pretending to be a WAV') });
    expect((await expectError(notAudio, 415, 'unsupported_media_type')).error.message).toMatch(/^Invalid file format/);
    const missing = new URLSearchParams({ callerPhone: '+14155550123', receiverPhone: '+442071838750', startTime: '2026-12-01T10:00:00Z' });
    const noCallId = await fetch(api(`/recordings?${missing}`), { method: 'POST', headers: { ...who, 'content-type': 'audio/wav' }, body: wav });
    expect((await expectError(noCallId, 400, 'invalid_request')).error.message).toMatch(/callId/);
    const badPhone = await fetch(api(`/recordings?${new URLSearchParams({ ...Object.fromEntries(query), callerPhone: '0123' })}`), { method: 'POST', headers: { ...who, 'content-type': 'audio/wav' }, body: wav });
    expect((await expectError(badPhone, 400, 'invalid_request')).error.message).toMatch(/callerPhone/);
    await expectError(await fetch(api('/recordings')), 401, 'unauthorized');
    await expectError(await fetch(api('/recordings'), { headers: { authorization: 'Bearer not.a.jwt' } }), 401, 'unauthorized');
    await expectError(await fetch(api('/recordings'), { headers: { 'x-api-key': 'wrong-key-0123456789' } }), 401, 'unauthorized');
  });

  it('GET /recordings/:id for the owner; 404 for another user; metadata but never audio for an auditor', async () => {
    expect((await fetch(api(`/recordings/${id}`), { headers: who })).status).toBe(200);
    await expectError(await fetch(api(`/recordings/${id}`), { headers: await bearer('http-stranger') }), 404, 'not_found');
    const auditor = await bearer('http-auditor', 'auditor');
    expect((await fetch(api(`/recordings/${id}`), { headers: auditor })).status).toBe(200);
    await expectError(await fetch(api(`/recordings/${id}/download`), { headers: auditor }), 403, 'forbidden');
    await expectError(await fetch(api('/recordings/rec_00000000000000000000000000'), { headers: who }), 404, 'not_found');
  });

  it('GET /recordings: items and nextCursor, newest first, filters, limit 1–200', async () => {
    const second = await upload(user, wav);
    const page = (await (await fetch(api('/recordings?limit=1'), { headers: who })).json()) as { items: { id: string }[]; nextCursor: string | null };
    expect(page.items.map((r) => r.id)).toEqual([second.id]);
    expect(typeof page.nextCursor).toBe('string');
    const next = (await (await fetch(api(`/recordings?limit=1&cursor=${page.nextCursor}`), { headers: who })).json()) as { items: { id: string }[] };
    expect(next.items.map((r) => r.id)).toEqual([id]);
    const byCall = (await (await fetch(api('/recordings?callId=walk-1'), { headers: who })).json()) as { items: { id: string }[]; nextCursor: string | null };
    expect(byCall).toEqual({ items: [expect.objectContaining({ id })], nextCursor: null });
    const byPhone = (await (await fetch(api(`/recordings?phone=${encodeURIComponent('+14155550123')}`), { headers: who })).json()) as { items: { id: string }[] };
    expect(byPhone.items.map((r) => r.id)).toEqual([id]);
    const byTime = (await (await fetch(api('/recordings?from=2026-12-01T09:00:00Z&to=2026-12-01T11:00:00Z'), { headers: who })).json()) as { items: { id: string }[] };
    expect(byTime.items.map((r) => r.id)).toEqual([id]);
    for (const limit of ['0', '201', 'x']) expect((await expectError(await fetch(api(`/recordings?limit=${limit}`), { headers: who }), 400, 'invalid_request')).error.message).toMatch(/limit/);
    await expectError(await fetch(api('/recordings?status=bogus'), { headers: who }), 400, 'invalid_request');
    const defaults = (await (await fetch(api('/recordings'), { headers: who })).json()) as { items: unknown[] };
    expect(defaults.items.length).toBe(2);
  });

  it('GET/PUT /recordings/:id/transcript: 404 when none; PUT by an admin or service, not by the owner', async () => {
    await whenProcessed(id);
    await expectError(await fetch(api(`/recordings/${id}/transcript`), { headers: who }), 404, 'not_found');
    const transcript = { language: 'en', text: 'Hello there.', segments: [{ start: 0, end: 1.2, speaker: 'A', text: 'Hello there.' }] };
    const put = (headers: Record<string, string>) => fetch(api(`/recordings/${id}/transcript`), { method: 'PUT', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(transcript) });
    await expectError(await put(who), 403, 'forbidden');
    expect((await put(admin)).status).toBe(200);
    // The contract's fields exactly, plus the additive `source` and `engine`.
    expect(await (await fetch(api(`/recordings/${id}/transcript`), { headers: who })).json()).toEqual({ recordingId: id, ...transcript, source: 'service', engine: null });
  });

  it('playback-url: an absolute URL and expiresAt (default 900 s); ttl out of range is 400', async () => {
    const res = await fetch(api(`/recordings/${id}/playback-url`), { headers: who });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { url: string; expiresAt: string };
    expect(Object.keys(body).sort()).toEqual(['expiresAt', 'url']);
    expect(body.url.startsWith(`${service.url}/api/v1/recordings/${id}/play?`)).toBe(true);
    expect(Math.abs(Date.parse(body.expiresAt) - Date.now() - 900_000)).toBeLessThan(10_000);
    expect((await rawGet(body.url, { range: 'bytes=0-3' })).body.toString()).toBe('RIFF');
    const altered = body.url.replace(/sig=([0-9a-f])/, (_, c: string) => `sig=${c === '0' ? '1' : '0'}`);
    await expectError(await fetch(altered), 403, 'forbidden');
    await expectError(await fetch(api(`/recordings/${id}/playback-url?ttl=0`), { headers: who }), 400, 'invalid_request');
    await expectError(await fetch(api(`/recordings/${id}/playback-url?quality=best`), { headers: who }), 400, 'invalid_request');
  });

  it('legal hold (admin only): DELETE answers 409 legal_hold while held; the owner gets 403', async () => {
    await expectError(await fetch(api(`/lifecycle/${id}/legal-hold`), { method: 'POST', headers: who }), 403, 'forbidden');
    const placed = await fetch(api(`/lifecycle/${id}/legal-hold`), { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'walk' }) });
    expect(placed.status).toBe(200);
    expect(await placed.json()).toMatchObject({ id, legalHold: true });
    await expectError(await fetch(api(`/recordings/${id}`), { method: 'DELETE', headers: who }), 409, 'legal_hold');
    const released = await fetch(api(`/lifecycle/${id}/legal-hold`), { method: 'DELETE', headers: admin });
    expect(await released.json()).toMatchObject({ id, legalHold: false });
  });

  it('archive: audio routes answer 409 archived; restore brings it back hot', async () => {
    expect(await (await fetch(api(`/lifecycle/${id}/archive`), { method: 'POST', headers: who })).json()).toMatchObject({ storageTier: 'archive' });
    for (const path of ['/download', '/stream', '/playback-url']) await expectError(await fetch(api(`/recordings/${id}${path}`), { headers: who }), 409, 'archived');
    const restored = await fetch(api(`/lifecycle/${id}/restore`), { method: 'POST', headers: who });
    expect(restored.status).toBe(200);
    expect(await restored.json()).toMatchObject({ storageTier: 'hot' });
  });

  it('redactions (admin/service): 202 and the Recording lists them; the owner gets 403', async () => {
    const body = JSON.stringify({ startMs: 500, endMs: 1000, reason: 'card number' });
    await expectError(await fetch(api(`/recordings/${id}/redactions`), { method: 'POST', headers: { ...who, 'content-type': 'application/json' }, body }), 403, 'forbidden');
    const res = await fetch(api(`/recordings/${id}/redactions`), { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { redactions: unknown[] }).redactions).toEqual([expect.objectContaining({ startMs: 500, endMs: 1000, reason: 'card number' })]);
  });

  it('audit (admin/auditor): events of the contract’s shape; verify over the chain; users get 403', async () => {
    const auditor = await bearer('http-auditor', 'auditor');
    // Events reach the log through the audit sequencer after each answer (within 5 s).
    let items: Record<string, unknown>[] = [];
    await expect
      .poll(async () => {
        const res = await fetch(api(`/audit?recordingId=${id}`), { headers: auditor });
        expect(res.status).toBe(200);
        items = ((await res.json()) as { items: Record<string, unknown>[] }).items;
        return items.map((e) => e.action);
      }, { timeout: 10_000, interval: 250 })
      .toEqual(expect.arrayContaining(['recording.create', 'recording.read', 'recording.archive', 'recording.legal_hold']));
    for (const field of ['id', 'at', 'actor', 'action', 'recordingId', 'outcome', 'hash', 'prevHash']) expect(items[0], field).toHaveProperty(field);
    expect(items.map((e) => e.action)).toEqual(expect.arrayContaining(['recording.create', 'recording.read', 'recording.archive', 'recording.legal_hold']));
    expect(items.some((e) => e.outcome === 'denied')).toBe(true);
    // Verify reports events that no checkpoint covers as not ok: an admin writes one first.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await fetch(api('/audit/checkpoints'), { method: 'POST', headers: admin })).status).toBe(201);
    const verify = (await (await fetch(api('/audit/verify'), { headers: admin })).json()) as Record<string, unknown>;
    expect(verify).toMatchObject({ ok: true, firstBadId: null });
    expect(typeof verify.checked).toBe('number');
    await expectError(await fetch(api('/audit'), { headers: who }), 403, 'forbidden');
  });

  it('DELETE /recordings/:id: 204, then every route for it answers 404', async () => {
    const doomed = await upload(user, wav);
    const res = await fetch(api(`/recordings/${doomed.id}`), { method: 'DELETE', headers: who });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    for (const path of ['', '/download', '/stream', '/playback-url', '/transcript']) await expectError(await fetch(api(`/recordings/${doomed.id}${path}`), { headers: who }), 404, 'not_found');
    for (const action of ['archive', 'restore']) await expectError(await fetch(api(`/lifecycle/${doomed.id}/${action}`), { method: 'POST', headers: who }), 404, 'not_found');
  });

  it('GDPR: consent GET/PUT shape; without recording consent uploads answer 403 consent_required; export shape', async () => {
    const subject = 'http-consent';
    const them = await bearer(subject);
    const consent = (await (await fetch(api('/gdpr/consent'), { headers: them })).json()) as Record<string, unknown>;
    expect(consent).toMatchObject({ userId: subject, consents: { recording: true, transcription: true } });
    expect(consent).toHaveProperty('updatedAt');
    const put = await fetch(api('/gdpr/consent'), { method: 'PUT', headers: { ...them, 'content-type': 'application/json' }, body: JSON.stringify({ recording: false, transcription: true }) });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ userId: subject, consents: { recording: false, transcription: true } });
    const query = new URLSearchParams({ callId: 'walk-consent', callerPhone: '+14155550123', receiverPhone: '+442071838750', startTime: '2026-12-01T10:00:00Z' });
    await expectError(await fetch(api(`/recordings?${query}`), { method: 'POST', headers: { ...them, 'content-type': 'audio/wav' }, body: wav }), 403, 'consent_required');
    const exported = (await (await fetch(api('/gdpr/export'), { headers: who })).json()) as Record<string, unknown>;
    for (const field of ['userId', 'exportedAt', 'consent', 'recordings', 'transcripts', 'auditEvents']) expect(exported, field).toHaveProperty(field);
    const recordings = exported.recordings as { id: string; downloadUrl: string | null }[];
    expect(recordings.find((r) => r.id === id)?.downloadUrl).toMatch(/^http/);
  });

  it('/health without credentials; /metrics needs an API key or admin token; OpenAPI and /docs are served; unknown routes are 404 JSON', async () => {
    const health = await fetch(`${service.url}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toMatch(/^(ok|degraded)$/);
    await expectError(await fetch(`${service.url}/metrics`), 401, 'unauthorized');
    await expectError(await fetch(`${service.url}/metrics`, { headers: who }), 403, 'forbidden');
    const metricsText = await fetch(`${service.url}/metrics`, { headers: admin });
    expect(metricsText.status).toBe(200);
    expect(metricsText.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await metricsText.text()).toMatch(/^# (HELP|TYPE) /m);
    const doc = await fetch(api('/openapi.json'));
    expect(doc.status).toBe(200);
    const openapi = (await doc.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(openapi.openapi).toMatch(/^3\./);
    for (const path of ['/api/v1/recordings', '/api/v1/recordings/{id}/download', '/api/v1/recordings/{id}/stream', '/api/v1/lifecycle/{id}/archive', '/api/v1/gdpr/data', '/api/v1/audit/verify']) expect(openapi.paths, path).toHaveProperty([path]);
    const docs = await fetch(`${service.url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/^text\/html/);
    await expectError(await fetch(api('/nothing-here'), { headers: who }), 404, 'not_found');
  });

  it('DELETE /gdpr/data: 200 with the contract’s report; a held recording is retained', async () => {
    const subject = 'http-erase-walk';
    const them = await bearer(subject);
    const kept = await upload(subject, wav);
    const gone = await upload(subject, wav);
    await fetch(api(`/lifecycle/${kept.id}/legal-hold`), { method: 'POST', headers: admin });
    const res = await fetch(api('/gdpr/data'), { method: 'DELETE', headers: them });
    expect(res.status).toBe(200);
    const report = (await res.json()) as { userId: string; deletedRecordings: string[]; retainedRecordings: { id: string; reason: string }[]; verification: Record<string, unknown> };
    expect(report.userId).toBe(subject);
    expect(report.deletedRecordings).toEqual([gone.id]);
    expect(report.retainedRecordings).toEqual([{ id: kept.id, reason: 'legal_hold' }]);
    expect(report.verification).toMatchObject({ allObjectsGone: true });
    await expectError(await fetch(api(`/recordings/${gone.id}`), { headers: admin }), 404, 'not_found');
    expect((await fetch(api(`/recordings/${kept.id}`), { headers: admin })).status).toBe(200);
  });
});
