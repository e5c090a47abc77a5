import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { as, call } from '../support/auth';
import { randomBytes, sineWav, withMagic } from '../support/audio';
import { bytesOf, callWith, equalBytes, fields, uploadOk, uploadRaw } from '../support/recordings';

async function storedObjects(): Promise<string[]> {
  return (await env.RECORDINGS.list({ prefix: 'recordings/' })).objects.map((o) => o.key);
}
async function rowCount(): Promise<number> {
  return Number((await env.DB.prepare('select count(*) as n from recordings').first<{ n: number }>())!.n);
}
async function openUploadCount(): Promise<number> {
  return Number((await env.DB.prepare('select count(*) as n from open_uploads').first<{ n: number }>())!.n);
}

describe('upload', () => {
  it('stores a raw audio body encrypted and gives it back byte-exact', async () => {
    const wav = sineWav(2);
    const res = await uploadRaw('uploader', wav);
    expect(res.status).toBe(201);
    const rec = (await res.json()) as { id: string; size: number; format: string; contentType: string; status: string; storageTier: string; legalHold: boolean; userId: string };
    expect(res.headers.get('location')).toBe(`/api/v1/recordings/${rec.id}`);
    expect(rec).toMatchObject({ size: wav.length, format: 'wav', contentType: 'audio/wav', status: 'processing', storageTier: 'hot', legalHold: false, userId: 'uploader' });
    const stored = await env.RECORDINGS.get(`recordings/${rec.id}/original.enc`);
    const ciphertext = new Uint8Array(await stored!.arrayBuffer());
    expect(ciphertext.length).toBeGreaterThan(wav.length);
    // The plaintext never appears in storage.
    expect(new TextDecoder('latin1').decode(ciphertext).includes('WAVEfmt')).toBe(false);
    const download = await call(`/api/v1/recordings/${rec.id}/download`, { headers: await as('uploader') });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('audio/wav');
    expect(download.headers.get('content-length')).toBe(String(wav.length));
    expect(download.headers.get('content-disposition')).toMatch(/^attachment; filename="rec_.+\.wav"$/);
    expect(equalBytes(await bytesOf(download), wav)).toBe(true);
  });

  it('accepts multipart/form-data with fields before or after the file', async () => {
    for (const order of ['fields-first', 'file-first']) {
      const form = new FormData();
      const audio = new File([withMagic('ogg', 40_000)], 'call.ogg', { type: 'audio/ogg' });
      if (order === 'file-first') form.append('audio', audio);
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      if (order === 'fields-first') form.append('audio', audio);
      const res = await call('/api/v1/recordings', { method: 'POST', headers: await as('form-user'), body: form });
      expect(res.status, order).toBe(201);
      const rec = (await res.json()) as { id: string; format: string; size: number };
      expect(rec.format).toBe('ogg');
      expect(rec.size).toBe(40_000);
    }
  });

  it.each(['wav', 'ogg', 'webm', 'mp3', 'm4a', 'flac'] as const)('detects %s from its bytes, whatever the declared type', async (format) => {
    const res = await uploadRaw('sniff-user', withMagic(format, 5000), {}, 'audio/whatever');
    expect(res.status).toBe(201);
    expect(((await res.json()) as { format: string }).format).toBe(format);
  });

  it('rejects content that is not audio with 415 and stores nothing', async () => {
    const before = [await storedObjects(), await rowCount()] as const;
    const res = await uploadRaw('sniff-user', new TextEncoder().encode('<html><body>not audio at all</body></html>'));
    expect(res.status).toBe(415);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unsupported_media_type');
    expect(body.error.message).toMatch(/^Invalid file format/);
    expect(await storedObjects()).toEqual(before[0]);
    expect(await rowCount()).toBe(before[1]);
  });

  it('enforces MAX_FILE_SIZE while streaming, whatever Content-Length says, leaving nothing behind', async () => {
    const before = [await storedObjects(), await rowCount(), await openUploadCount()] as const;
    const limit = 6 * 1024 * 1024;
    const payload = withMagic('wav', limit + 1);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < payload.length; i += 256 * 1024) controller.enqueue(payload.subarray(i, i + 256 * 1024));
        controller.close();
      },
    });
    const query = new URLSearchParams(fields);
    const res = await callWith({ MAX_FILE_SIZE: String(limit) }, `/api/v1/recordings?${query}`, {
      method: 'POST',
      headers: { ...(await as('big-user')), 'content-type': 'audio/wav', 'content-length': '1000' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    expect(await storedObjects()).toEqual(before[0]);
    expect(await rowCount()).toBe(before[1]);
    expect(await openUploadCount()).toBe(before[2]);
  });

  it('stores a multi-part upload (several storage parts) byte-exact', async () => {
    const payload = withMagic('flac', 12 * 1024 * 1024 + 12345);
    payload.set(randomBytes(1_000_000), 5000);
    const rec = await uploadOk('multipart-user', payload);
    const download = await call(`/api/v1/recordings/${rec.id}/download`, { headers: await as('multipart-user') });
    expect(equalBytes(await bytesOf(download), payload)).toBe(true);
    expect(await openUploadCount()).toBe(0);
  });

  it('validates fields with zod: E.164 phones, ISO times, endTime not before startTime', async () => {
    const wav = sineWav(0.1);
    const bad = async (extra: Record<string, string>) => (await uploadRaw('field-user', wav, extra)).json() as Promise<{ error: { code: string; message: string } }>;
    expect((await bad({ callerPhone: '555-0100' })).error.message).toMatch(/^callerPhone: /);
    expect((await bad({ startTime: 'yesterday' })).error.message).toMatch(/^startTime: /);
    expect((await bad({ endTime: '2026-11-20T09:00:00Z' })).error.message).toMatch(/^endTime: /);
    expect((await bad({ callId: '' })).error.code).toBe('invalid_request');
  });

  it('refuses a non-audio content type with 415, an auditor with 403, and another userId from a user with 403', async () => {
    const wav = sineWav(0.1);
    expect((await uploadRaw('ct-user', wav, {}, 'text/plain')).status).toBe(415);
    const auditor = await call(`/api/v1/recordings?${new URLSearchParams(fields)}`, { method: 'POST', headers: { ...(await as('aud', 'auditor')), 'content-type': 'audio/wav' }, body: wav });
    expect(auditor.status).toBe(403);
    expect((await uploadRaw('ct-user', wav, { userId: 'someone-else' })).status).toBe(403);
  });

  it('lets an admin upload for a user, who then owns it', async () => {
    const query = new URLSearchParams({ ...fields, userId: 'owned-by-admin-upload' });
    const res = await call(`/api/v1/recordings?${query}`, { method: 'POST', headers: { ...(await as('boss', 'admin')), 'content-type': 'audio/wav' }, body: sineWav(0.2) });
    expect(res.status).toBe(201);
    const rec = (await res.json()) as { id: string; userId: string };
    expect(rec.userId).toBe('owned-by-admin-upload');
    expect((await call(`/api/v1/recordings/${rec.id}`, { headers: await as('owned-by-admin-upload') })).status).toBe(200);
  });

  it('answers 403 consent_required when the owner refused recording', async () => {
    await call('/api/v1/gdpr/consent', { method: 'PUT', headers: { ...(await as('no-consent')), 'content-type': 'application/json' }, body: JSON.stringify({ recording: false, transcription: false }) });
    const res = await uploadRaw('no-consent', sineWav(0.1));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('consent_required');
  });
});
