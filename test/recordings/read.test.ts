import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { getConfig } from '../../src/config';
import { createDb } from '../../src/db/client';
import { findRecording } from '../../src/db/recordings';
import { signPlaybackUrl } from '../../src/recordings/playback-url';
import { dataKeyFor, openRange } from '../../src/recordings/read';
import { createBlobStore } from '../../src/storage/select';
import { settleAudit } from '../support/audit';
import { as, call } from '../support/auth';
import { randomBytes, withMagic } from '../support/audio';
import { TEST_SECRETS } from '../support/secrets';
import { bytesOf, equalBytes, uploadOk } from '../support/recordings';

const CHUNK = 16384;
let id: string;
let plain: Uint8Array;
const owner = 'range-owner';

async function stream(range: string | undefined, who = owner) {
  return call(`/api/v1/recordings/${id}/stream`, { headers: { ...(await as(who)), ...(range ? { range } : {}) } });
}

beforeAll(async () => {
  plain = withMagic('wav', 10 * CHUNK + 1234);
  plain.set(randomBytes(plain.length - 12), 12);
  id = (await uploadOk(owner, plain)).id;
});

describe('reads', () => {
  it('returns the metadata to the owner and lists it newest first with a cursor', async () => {
    const res = await call(`/api/v1/recordings/${id}`, { headers: await as(owner) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { size: number }).size).toBe(plain.length);
    const second = await uploadOk(owner, withMagic('mp3', 100));
    const page1 = (await (await call('/api/v1/recordings?limit=1', { headers: await as(owner) })).json()) as { items: { id: string }[]; nextCursor: string };
    expect(page1.items[0]!.id).toBe(second.id);
    const page2 = (await (await call(`/api/v1/recordings?limit=1&cursor=${page1.nextCursor}`, { headers: await as(owner) })).json()) as { items: { id: string }[] };
    expect(page2.items[0]!.id).toBe(id);
    const filtered = (await (await call(`/api/v1/recordings?phone=%2B14155550100`, { headers: await as(owner) })).json()) as { items: unknown[] };
    expect(filtered.items.length).toBe(2);
  });

  it('answers a range with 206, Content-Range and exactly those bytes, in every form', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      [`bytes=${CHUNK - 1}-${CHUNK}`, CHUNK - 1, CHUNK],
      [`bytes=${CHUNK}-${2 * CHUNK - 1}`, CHUNK, 2 * CHUNK - 1],
      [`bytes=${plain.length - 1}-`, plain.length - 1, plain.length - 1],
      ['bytes=-500', plain.length - 500, plain.length - 1],
      [`bytes=${3 * CHUNK + 5}-`, 3 * CHUNK + 5, plain.length - 1],
      [`bytes=100-${plain.length + 1000}`, 100, plain.length - 1],
    ];
    for (const [header, start, end] of cases) {
      const res = await stream(header);
      expect(res.status, header).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${plain.length}`);
      expect(res.headers.get('accept-ranges')).toBe('bytes');
      expect(res.headers.get('cache-control')).toContain('private');
      expect(equalBytes(await bytesOf(res), plain.subarray(start, end + 1)), header).toBe(true);
    }
  });

  it('answers an unsatisfiable range with 416 and Content-Range bytes */size', async () => {
    const res = await stream(`bytes=${plain.length}-`);
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${plain.length}`);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('range_not_satisfiable');
  });

  it('serves 1,000 random ranges exactly (decrypting only the chunks that cover each)', async () => {
    const config = getConfig(env);
    const db = createDb(env.DB);
    const deps = { db, store: createBlobStore(env, config), config };
    const row = (await findRecording(db, id))!;
    const dataKey = await dataKeyFor(deps, row);
    const source = { objectKey: row.objectKey!, size: row.size, context: row.id };
    for (let i = 0; i < 1000; i += 25) {
      await Promise.all(
        Array.from({ length: 25 }, async () => {
          const a = Math.floor(Math.random() * plain.length);
          const b = Math.min(plain.length - 1, a + Math.floor(Math.random() * 3 * CHUNK));
          const got = new Uint8Array(await new Response(await openRange(deps, dataKey, source, a, b)).arrayBuffer());
          expect(equalBytes(got, plain.subarray(a, b + 1)), `${a}-${b}`).toBe(true);
        }),
      );
    }
    // And a sample through HTTP, spread over admins (one principal would meet the rate limit).
    for (let i = 0; i < 40; i++) {
      const a = Math.floor(Math.random() * plain.length);
      const b = Math.min(plain.length - 1, a + Math.floor(Math.random() * 2 * CHUNK));
      const res = await call(`/api/v1/recordings/${id}/stream`, { headers: { ...(await as('range-admin', 'admin')), range: `bytes=${a}-${b}` } });
      expect(equalBytes(await bytesOf(res), plain.subarray(a, b + 1)), `${a}-${b}`).toBe(true);
    }
  }, 180_000);

  it("answers 404 for another user's recording and 403 to an auditor asking for audio", async () => {
    expect((await call(`/api/v1/recordings/${id}`, { headers: await as('stranger') })).status).toBe(404);
    expect((await stream('bytes=0-1', 'stranger')).status).toBe(404);
    expect((await call(`/api/v1/recordings/${id}`, { headers: await as('aud', 'auditor') })).status).toBe(200);
    const audio = await call(`/api/v1/recordings/${id}/download`, { headers: await as('aud', 'auditor') });
    expect(audio.status).toBe(403);
    expect(((await audio.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    expect((await call(`/api/v1/recordings/${id}/download`, { headers: await as('boss', 'admin') })).status).toBe(200);
  });

  it('audits reads and denials', async () => {
    await call(`/api/v1/recordings/${id}`, { headers: await as('stranger') });
    await settleAudit();
    const events = (await (await call(`/api/v1/audit?recordingId=${id}&limit=200`, { headers: await as('boss', 'admin') })).json()) as { items: { action: string; outcome: string }[] };
    const kinds = new Set(events.items.map((e) => `${e.action}:${e.outcome}`));
    expect(kinds).toContain('recording.read:success');
    expect(kinds).toContain('recording.read:denied');
    expect(kinds).toContain('recording.stream:success');
    expect(kinds).toContain('recording.download:denied');
  });
});

describe('signed playback URLs', () => {
  it('play with Range and without credentials until they expire', async () => {
    const res = await call(`/api/v1/recordings/${id}/playback-url?ttl=60`, { headers: await as(owner) });
    expect(res.status).toBe(200);
    const { url, expiresAt } = (await res.json()) as { url: string; expiresAt: string };
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(55_000);
    const played = await call(url.replace(/^https?:\/\/[^/]+/, ''), { headers: { range: 'bytes=10-19' } });
    if (played.status !== 206) throw new Error(await played.text());
    expect(played.status).toBe(206);
    expect(played.headers.get('cache-control')).toBe('private, no-store');
    expect(equalBytes(await bytesOf(played), plain.subarray(10, 20))).toBe(true);
  });

  it('answer 403 when any byte of the URL is changed or when expired', async () => {
    const { url } = await signPlaybackUrl(TEST_SECRETS.MASTER_ENCRYPTION_KEY, 'http://recorder.test', id, 'original', 60, { id: owner, role: 'user' });
    const path = url.replace(/^https?:\/\/[^/]+/, '');
    const sigAt = path.indexOf('sig=') + 4;
    const flipped = path.slice(0, sigAt) + (path[sigAt] === 'a' ? 'b' : 'a') + path.slice(sigAt + 1);
    expect((await call(flipped)).status).toBe(403);
    expect((await call(path.replace('quality=original', 'quality=high'))).status).toBe(403);
    expect((await call(path.replace(/exp=(\d+)/, (_, e: string) => `exp=${Number(e) + 1}`))).status).toBe(403);
    const expired = await signPlaybackUrl(TEST_SECRETS.MASTER_ENCRYPTION_KEY, 'http://recorder.test', id, 'original', 60, { id: owner, role: 'user' }, Date.now() - 120_000);
    const res = await call(expired.url.replace(/^https?:\/\/[^/]+/, ''));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('expired');
    expect((await call(path.replace(`by=${owner}`, 'by=someone-else'))).status).toBe(403);
    expect((await call(path.replace('role=user', 'role=admin'))).status).toBe(403);
  });

  it('stop working once the read grant of the one who asked for them is revoked', async () => {
    const grantee = 'range-grantee';
    const grant = await call(`/api/v1/recordings/${id}/permissions`, {
      method: 'POST',
      headers: { ...(await as(owner)), 'content-type': 'application/json' },
      body: JSON.stringify({ userId: grantee, permission: 'read' }),
    });
    expect(grant.status).toBe(200);
    const { url } = (await (await call(`/api/v1/recordings/${id}/playback-url`, { headers: await as(grantee) })).json()) as { url: string };
    const path = url.replace(/^https?:\/\/[^/]+/, '');
    expect((await call(path, { headers: { range: 'bytes=0-9' } })).status).toBe(206);
    const ownerLink = (await (await call(`/api/v1/recordings/${id}/playback-url`, { headers: await as(owner) })).json()) as { url: string };
    expect((await call(`/api/v1/recordings/${id}/permissions?userId=${grantee}`, { method: 'DELETE', headers: await as(owner) })).status).toBe(200);
    const revoked = await call(path, { headers: { range: 'bytes=0-9' } });
    expect(revoked.status).toBe(403);
    expect(((await revoked.json()) as { error: { message: string } }).error.message).toContain('no longer valid');
    // The owner's own link is not affected.
    expect((await call(ownerLink.url.replace(/^https?:\/\/[^/]+/, ''), { headers: { range: 'bytes=0-9' } })).status).toBe(206);
  });

  it('stop working once the recording is deleted', async () => {
    const rec = await uploadOk('link-deleter', withMagic('ogg', 5000));
    const { url } = (await (await call(`/api/v1/recordings/${rec.id}/playback-url`, { headers: await as('link-deleter') })).json()) as { url: string };
    const path = url.replace(/^https?:\/\/[^/]+/, '');
    expect((await call(path)).status).toBe(200);
    expect((await call(`/api/v1/recordings/${rec.id}`, { method: 'DELETE', headers: await as('link-deleter') })).status).toBe(204);
    expect((await call(path)).status).toBe(404);
  });
});

describe('delete', () => {
  it('removes the row and the stored bytes; every route then answers 404', async () => {
    const rec = await uploadOk('deleter', withMagic('ogg', 50_000));
    const res = await call(`/api/v1/recordings/${rec.id}`, { method: 'DELETE', headers: await as('deleter') });
    expect(res.status).toBe(204);
    expect(await env.RECORDINGS.head(`recordings/${rec.id}/original.enc`)).toBeNull();
    for (const path of ['', '/download', '/stream', '/playback-url']) {
      expect((await call(`/api/v1/recordings/${rec.id}${path}`, { headers: await as('deleter') })).status, path).toBe(404);
    }
  });

  it('refuses with 409 legal_hold while the recording is held', async () => {
    const rec = await uploadOk('holder', withMagic('ogg', 1000));
    await env.DB.prepare('update recordings set legal_hold = 1 where id = ?').bind(rec.id).run();
    const res = await call(`/api/v1/recordings/${rec.id}`, { method: 'DELETE', headers: await as('boss', 'admin') });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('legal_hold');
    expect(await env.RECORDINGS.head(`recordings/${rec.id}/original.enc`)).not.toBeNull();
  });

  it("refuses a user deleting someone else's recording with 404", async () => {
    const rec = await uploadOk('victim', withMagic('ogg', 1000));
    expect((await call(`/api/v1/recordings/${rec.id}`, { method: 'DELETE', headers: await as('stranger') })).status).toBe(404);
  });
});
