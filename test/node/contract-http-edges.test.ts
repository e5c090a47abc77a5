/**
 * More of the contract walked with plain HTTP clients against `wrangler dev` (the rest is in
 * contract-http.test.ts): an upload over MAX_FILE_SIZE (a small limit set for this service) is
 * 413 `payload_too_large` and leaves no recording; a signed playback URL stops working after its
 * `expiresAt`; a live call with a pause and a hole in its sequence reads back over HTTP with
 * `pauses` and `gaps`; an auditor sees a recording but every change it tries is 403 `forbidden`;
 * and the audit log's `userId`, `action`, `from` and `to` filters select what they say.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { API_KEY, bearer, contractClient, expectError, rawGet, tokenFor } from '../e2e/http-client';
import { startService, type Service } from '../e2e/service';
import { sineWav } from '../support/audio';

/** Small enough to exceed cheaply; the 3 s WAV the other tests upload (~96 KB) fits. */
const MAX_FILE_SIZE = 200_000;

let service: Service;
const { api, upload } = contractClient(() => service.url);
const admin = { 'x-api-key': API_KEY };
const wav = sineWav(3, 440, 16_000);

beforeAll(async () => {
  service = await startService({ verbose: process.env.WEB_E2E_VERBOSE === '1', vars: { MAX_FILE_SIZE: String(MAX_FILE_SIZE) } });
}, 240_000);

afterAll(async () => {
  await service?.stop();
});

interface AuditItem {
  id: string;
  at: string;
  actor: string;
  action: string;
  recordingId: string | null;
  outcome: string;
}

async function auditItems(query: string): Promise<AuditItem[]> {
  const res = await fetch(api(`/audit?${query}&limit=200`), { headers: admin });
  expect(res.status, query).toBe(200);
  return ((await res.json()) as { items: AuditItem[] }).items;
}

async function recordingsOfCall(callId: string): Promise<unknown[]> {
  const res = await fetch(api(`/recordings?callId=${encodeURIComponent(callId)}`), { headers: admin });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: unknown[] }).items;
}

describe('uploads over MAX_FILE_SIZE', () => {
  const tooLarge = sineWav(8, 440, 16_000);

  beforeAll(() => {
    expect(tooLarge.length).toBeGreaterThan(MAX_FILE_SIZE);
  });

  it('raw, with its Content-Length and streamed without one: 413 payload_too_large, and no recording is left', async () => {
    const who = await bearer('http-big');
    const query = (callId: string) => new URLSearchParams({ callId, callerPhone: '+14155550123', receiverPhone: '+442071838750', startTime: '2026-12-01T10:00:00Z' });
    const declared = await fetch(api(`/recordings?${query('big-declared')}`), { method: 'POST', headers: { ...who, 'content-type': 'audio/wav' }, body: tooLarge });
    expect((await expectError(declared, 413, 'payload_too_large')).error.message).toMatch(String(MAX_FILE_SIZE));
    // Chunked: no Content-Length to refuse by, so the streaming gate counts the bytes.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < tooLarge.length; at += 16_384) controller.enqueue(tooLarge.subarray(at, at + 16_384));
        controller.close();
      },
    });
    const streamed = await fetch(api(`/recordings?${query('big-streamed')}`), { method: 'POST', headers: { ...who, 'content-type': 'audio/wav' }, body, duplex: 'half' } as RequestInit);
    await expectError(streamed, 413, 'payload_too_large');
    expect(await recordingsOfCall('big-declared')).toEqual([]);
    expect(await recordingsOfCall('big-streamed')).toEqual([]);
    // Exactly MAX_FILE_SIZE bytes are taken.
    const fits = await fetch(api(`/recordings?${query('big-fits')}`), { method: 'POST', headers: { ...who, 'content-type': 'audio/wav' }, body: tooLarge.subarray(0, MAX_FILE_SIZE) });
    expect(fits.status).toBe(201);
  });

  it('multipart: 413 payload_too_large, and no recording is left', async () => {
    const form = new FormData();
    for (const [name, value] of Object.entries({ callId: 'big-multipart', callerPhone: '+14155550123', receiverPhone: '+442071838750', startTime: '2026-12-01T10:00:00Z' })) form.set(name, value);
    form.set('audio', new Blob([tooLarge], { type: 'audio/wav' }), 'call.wav');
    await expectError(await fetch(api('/recordings'), { method: 'POST', headers: await bearer('http-big'), body: form }), 413, 'payload_too_large');
    expect(await recordingsOfCall('big-multipart')).toEqual([]);
  });
});

describe('a signed playback URL after its expiresAt', () => {
  it('plays until expiresAt, then answers 403 forbidden', async () => {
    const { id } = await upload('http-expiry', wav);
    const res = await fetch(api(`/recordings/${id}/playback-url?ttl=2`), { headers: await bearer('http-expiry') });
    expect(res.status).toBe(200);
    const { url, expiresAt } = (await res.json()) as { url: string; expiresAt: string };
    expect(Math.abs(Date.parse(expiresAt) - Date.now() - 2_000)).toBeLessThan(2_000);
    expect((await rawGet(url, { range: 'bytes=0-3' })).status).toBe(206);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(expiresAt) - Date.now()) + 1_100));
    const expired = await fetch(url, { headers: { range: 'bytes=0-3' } });
    expect((await expectError(expired, 403, 'forbidden')).error.message).toMatch(/expired/i);
  });
});

describe('a live call with a pause and a hole in its sequence, read over HTTP', () => {
  it('lists each pause (at, durationMs) and each gap (fromSequence, toSequence) on the Recording, as `stopped` did', async () => {
    const owner = 'http-live-gaps';
    const callId = `http-live-${Date.now()}`;
    const socket = new WebSocket(`${service.url.replace('http', 'ws')}/api/v1/recordings/live?callId=${callId}`, { headers: { authorization: `Bearer ${await tokenFor(owner)}` } });
    const frames: Record<string, unknown>[] = [];
    socket.on('message', (data, isBinary) => {
      if (!isBinary) frames.push(JSON.parse(String(data)) as Record<string, unknown>);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const next = async (match: (frame: Record<string, unknown>) => boolean, what: string) => {
      await expect.poll(() => frames.some(match), { timeout: 20_000, message: what }).toBe(true);
      return frames.splice(frames.findIndex(match), 1)[0]!;
    };
    const chunk = (sequence: number, size: number) => {
      const frame = Buffer.alloc(4 + size, sequence + 1);
      frame.writeUInt32BE(sequence, 0);
      if (sequence === 0) Buffer.from([0x1a, 0x45, 0xdf, 0xa3]).copy(frame, 4);
      socket.send(frame);
      return next((f) => f.type === 'ack' && f.sequence === sequence, `ack ${sequence}`);
    };
    try {
      socket.send(JSON.stringify({ type: 'start', callId, format: 'webm', callerPhone: '+14155550123', receiverPhone: '+442071838750' }));
      const started = await next((f) => f.type === 'started', 'started');
      await chunk(0, 1_000);
      socket.send(JSON.stringify({ type: 'pause' }));
      await next((f) => f.type === 'paused', 'paused');
      expect(await chunk(1, 500)).toMatchObject({ dropped: true });
      await new Promise((resolve) => setTimeout(resolve, 300));
      socket.send(JSON.stringify({ type: 'resume' }));
      await next((f) => f.type === 'resumed', 'resumed');
      await chunk(2, 700);
      // Sequences 3 and 4 never come: a hole.
      await chunk(5, 800);
      socket.send(JSON.stringify({ type: 'stop' }));
      const stopped = await next((f) => f.type === 'stopped', 'stopped');
      expect(stopped).toMatchObject({ recordingId: started.recordingId, size: 2_500, gaps: [{ fromSequence: 3, toSequence: 4 }] });
      expect(stopped.pauses).toEqual([{ at: expect.any(String), durationMs: expect.any(Number) }]);

      const res = await fetch(api(`/recordings/${String(started.recordingId)}`), { headers: await bearer(owner) });
      expect(res.status).toBe(200);
      const recording = (await res.json()) as Record<string, unknown> & { pauses: { at: string; durationMs: number }[] };
      expect(recording).toMatchObject({ id: started.recordingId, callId, userId: owner, format: 'webm', size: 2_500, gaps: [{ fromSequence: 3, toSequence: 4 }] });
      expect(recording.endTime).toEqual(expect.any(String));
      expect(recording.pauses).toEqual(stopped.pauses);
      expect(Number.isNaN(Date.parse(recording.pauses[0]!.at))).toBe(false);
      expect(recording.pauses[0]!.durationMs).toBeGreaterThanOrEqual(300);
    } finally {
      socket.close();
    }
  }, 60_000);
});

describe('an auditor', () => {
  it('sees the recording, and every change it tries answers 403 forbidden and changes nothing', async () => {
    const { id } = await upload('http-audited', wav);
    const auditor = await bearer('http-auditor-writes', 'auditor');
    const json = { ...auditor, 'content-type': 'application/json' };
    expect((await fetch(api(`/recordings/${id}`), { headers: auditor })).status).toBe(200);
    const attempts: [string, string, RequestInit][] = [
      ['archive', `/lifecycle/${id}/archive`, { method: 'POST', headers: auditor }],
      ['restore', `/lifecycle/${id}/restore`, { method: 'POST', headers: auditor }],
      ['place a legal hold', `/lifecycle/${id}/legal-hold`, { method: 'POST', headers: json, body: JSON.stringify({ reason: 'auditor' }) }],
      ['release a legal hold', `/lifecycle/${id}/legal-hold`, { method: 'DELETE', headers: auditor }],
      ['delete', `/recordings/${id}`, { method: 'DELETE', headers: auditor }],
      ['put a transcript', `/recordings/${id}/transcript`, { method: 'PUT', headers: json, body: JSON.stringify({ language: 'en', text: 'x', segments: [] }) }],
      ['redact', `/recordings/${id}/redactions`, { method: 'POST', headers: json, body: JSON.stringify({ startMs: 0, endMs: 500, reason: 'auditor' }) }],
    ];
    for (const [what, path, init] of attempts) {
      const res = await fetch(api(path), init);
      expect(res.status, what).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code, what).toBe('forbidden');
    }
    const after = await fetch(api(`/recordings/${id}`), { headers: admin });
    expect(after.status).toBe(200);
    expect(await after.json()).toMatchObject({ id, storageTier: 'hot', legalHold: false, redactions: [] });
    await expectError(await fetch(api(`/recordings/${id}/transcript`), { headers: admin }), 404, 'not_found');
    // Each refusal is an audit event of its own.
    await expect
      .poll(async () => (await auditItems(`recordingId=${id}`)).filter((e) => e.actor === 'http-auditor-writes' && e.outcome === 'denied').length, { timeout: 10_000 })
      .toBeGreaterThanOrEqual(attempts.length);
    // And the owner's own log (userId: actor, or owner of the recording) shows them.
    const ofOwner = await auditItems('userId=http-audited');
    expect(ofOwner.filter((e) => e.actor === 'http-auditor-writes' && e.outcome === 'denied' && e.recordingId === id).length).toBeGreaterThanOrEqual(attempts.length);
  });
});

describe('audit filters', () => {
  it('userId (actor or subject), action, and from/to (inclusive) select exactly their events', async () => {
    const alice = await bearer('http-audit-alice');
    const bob = await bearer('http-audit-bob');
    const upload = (who: Record<string, string>, callId: string) =>
      fetch(api(`/recordings?${new URLSearchParams({ callId, callerPhone: '+14155550123', receiverPhone: '+442071838750', startTime: '2026-12-01T10:00:00Z' })}`), { method: 'POST', headers: { ...who, 'content-type': 'audio/wav' }, body: wav });
    const aliceRecording = ((await (await upload(alice, 'audit-alice')).json()) as { id: string }).id;
    const bobRecording = ((await (await upload(bob, 'audit-bob')).json()) as { id: string }).id;
    for (let i = 0; i < 3; i++) expect((await fetch(api(`/recordings/${aliceRecording}`), { headers: alice })).status).toBe(200);
    // An admin reads Alice's recording: her event by subject, not by actor.
    expect((await fetch(api(`/recordings/${aliceRecording}`), { headers: admin })).status).toBe(200);

    let ofAlice: AuditItem[] = [];
    await expect
      .poll(async () => {
        ofAlice = await auditItems('userId=http-audit-alice');
        return ofAlice.filter((e) => e.action === 'recording.read').length;
      }, { timeout: 10_000 })
      .toBe(4);
    expect(ofAlice.map((e) => e.action)).toContain('recording.create');
    for (const event of ofAlice) expect(event.actor === 'http-audit-alice' || event.recordingId === aliceRecording, JSON.stringify(event)).toBe(true);
    expect(ofAlice.some((e) => e.actor !== 'http-audit-alice')).toBe(true);
    expect(ofAlice.some((e) => e.recordingId === bobRecording)).toBe(false);

    const creates = await auditItems('action=recording.create');
    expect(creates.every((e) => e.action === 'recording.create')).toBe(true);
    expect(creates.map((e) => e.recordingId)).toEqual(expect.arrayContaining([aliceRecording, bobRecording]));

    // A window of Alice's reads, its bounds two of the events' own times: both ends are in.
    const reads = (await auditItems(`recordingId=${aliceRecording}&action=recording.read`)).sort((a, b) => a.at.localeCompare(b.at));
    expect(reads).toHaveLength(4);
    const [from, to] = [reads[1]!.at, reads[2]!.at];
    const windowed = await auditItems(`recordingId=${aliceRecording}&action=recording.read&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    expect(windowed.map((e) => e.id).sort()).toEqual(reads.filter((e) => e.at >= from && e.at <= to).map((e) => e.id).sort());
    expect(windowed.length).toBeGreaterThanOrEqual(1);
    expect(windowed.length).toBeLessThan(4);
    expect(await auditItems(`userId=http-audit-alice&from=2030-01-01T00:00:00Z`)).toEqual([]);
    expect((await expectError(await fetch(api('/audit?from=yesterday'), { headers: admin }), 400, 'invalid_request')).error.message).toMatch(/from/);
  });
});
