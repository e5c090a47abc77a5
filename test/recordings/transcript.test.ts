import { describe, expect, it } from 'vitest';
import { API_KEY, as, call } from '../support/auth';
import { withMagic } from '../support/audio';
import { uploadOk } from '../support/recordings';

const transcript = { language: 'en', text: 'Hello. Hi there.', segments: [{ start: 0, end: 1.2, speaker: 'caller', text: 'Hello.' }, { start: 1.3, end: 2.5, speaker: 'agent', text: 'Hi there.' }] };
const put = (id: string, headers: Record<string, string>, body: unknown = transcript) =>
  call(`/api/v1/recordings/${id}/transcript`, { method: 'PUT', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('transcripts', () => {
  it('is 404 until a service stores one, then reads back for the owner and grantees but not auditors', async () => {
    const rec = await uploadOk('talker', withMagic('ogg', 2000));
    expect((await call(`/api/v1/recordings/${rec.id}/transcript`, { headers: await as('talker') })).status).toBe(404);
    const stored = await put(rec.id, { 'x-api-key': API_KEY });
    expect(stored.status).toBe(200);
    const res = await call(`/api/v1/recordings/${rec.id}/transcript`, { headers: await as('talker') });
    expect(await res.json()).toEqual({ recordingId: rec.id, ...transcript, source: 'service', engine: null });
    expect((await call(`/api/v1/recordings/${rec.id}/transcript`, { headers: await as('aud', 'auditor') })).status).toBe(403);
    expect((await call(`/api/v1/recordings/${rec.id}/transcript`, { headers: await as('stranger') })).status).toBe(404);
    await call(`/api/v1/recordings/${rec.id}/permissions`, { method: 'POST', headers: { ...(await as('talker')), 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'listener' }) });
    expect((await call(`/api/v1/recordings/${rec.id}/transcript`, { headers: await as('listener') })).status).toBe(200);
  });

  it('refuses a user storing one (403), a bad shape (400) and a user who refused transcription (403 consent_required)', async () => {
    const rec = await uploadOk('talker2', withMagic('ogg', 2000));
    expect((await put(rec.id, await as('talker2'))).status).toBe(403);
    expect((await put(rec.id, { 'x-api-key': API_KEY }, { language: 'en', text: 'x', segments: [{ start: 2, end: 1, speaker: null, text: 'x' }] })).status).toBe(400);
    await call('/api/v1/gdpr/consent', { method: 'PUT', headers: { ...(await as('talker2')), 'content-type': 'application/json' }, body: JSON.stringify({ recording: true, transcription: false }) });
    const refused = await put(rec.id, { 'x-api-key': API_KEY });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('consent_required');
  });
});
