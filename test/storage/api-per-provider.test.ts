/**
 * The recordings API on each remote provider: the Worker's own app, with STORAGE_PROVIDER and the
 * provider's settings in `env` exactly as a deployment would set them, against s3rver and Azurite
 * (test/global-setup-emulators.ts). Uploads (raw and form, one part and many), byte-exact
 * downloads, ranges, signed playback, delete, rejected uploads, and what the API does when the
 * provider is down (a port nothing listens on): 503 with Retry-After, /health degraded, and no
 * row that claims audio which is not stored.
 */
import { env } from 'cloudflare:test';
import { describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/app';
import { getConfig } from '../../src/config';
import type { BlobStore } from '../../src/storage/blob-store';
import { createBlobStore } from '../../src/storage/select';
import { as } from '../support/auth';
import { randomBytes, withMagic } from '../support/audio';
import { bytesOf, equalBytes, fields } from '../support/recordings';

const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const CHUNK = 16384;
const MiB = 1024 * 1024;

interface Provider {
  name: 's3' | 'azure';
  /** Settings that reach the running emulator. */
  up: Record<string, string>;
  /** The same provider at an address where nothing listens. */
  down: Record<string, string>;
}

function s3Settings(endpoint: string): Record<string, string> {
  const s3 = inject('s3');
  return {
    STORAGE_PROVIDER: 's3',
    AWS_REGION: s3.region,
    AWS_BUCKET_NAME: s3.bucket,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_ENDPOINT: endpoint,
  };
}

function azureSettings(connectionString: string): Record<string, string> {
  return { STORAGE_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: connectionString, AZURE_CONTAINER_NAME: inject('azure').container };
}

const closed = inject('closedEndpoint');
const providers: Provider[] = [
  { name: 's3', up: s3Settings(inject('s3').endpoint), down: s3Settings(closed) },
  {
    name: 'azure',
    up: azureSettings(inject('azure').connectionString),
    down: azureSettings(`DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${AZURITE_KEY};BlobEndpoint=${closed}/devstoreaccount1`),
  },
];

interface Service {
  request(path: string, init?: RequestInit): Promise<Response>;
  /** The BlobStore the service uses, to look at the provider directly. */
  store: BlobStore;
}

/** The app with `settings` on top of the test bindings; one env object, so one parsed config and one store. */
function serviceWith(settings: Record<string, string>): Service {
  const workerEnv = { ...env, ...settings, RATE_LIMIT_DISABLED: 'true' };
  const app = createApp();
  const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
  return {
    request: async (path, init = {}) => app.fetch(new Request(new URL(path, 'http://recorder.test'), init), workerEnv, ctx),
    store: createBlobStore(workerEnv, getConfig(workerEnv)),
  };
}

async function uploadRaw(service: Service, user: string, body: Uint8Array | ReadableStream<Uint8Array>, contentType = 'audio/wav'): Promise<Response> {
  return service.request(`/api/v1/recordings?${new URLSearchParams(fields)}`, {
    method: 'POST',
    headers: { ...(await as(user)), 'content-type': contentType },
    body,
    duplex: 'half',
  } as RequestInit);
}

async function uploaded(res: Response): Promise<{ id: string; size: number }> {
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/** Every key the provider holds under `prefix`, all pages. */
async function keysUnder(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list(prefix, cursor);
    keys.push(...page.keys);
    cursor = page.cursor;
  } while (cursor);
  return keys.sort();
}

async function count(table: 'recordings' | 'open_uploads'): Promise<number> {
  return Number((await env.DB.prepare(`select count(*) as n from ${table}`).first<{ n: number }>())!.n);
}

async function openUploadRows(): Promise<{ upload_id: string; object_key: string; recording_id: string | null }[]> {
  return (await env.DB.prepare('select upload_id, object_key, recording_id from open_uploads').all<{ upload_id: string; object_key: string; recording_id: string | null }>()).results;
}

/** A body that yields `bytes` in 256 KiB pieces (so the size limit trips mid-stream, not up front). */
function pieces(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(at, at + 256 * 1024));
      at += 256 * 1024;
    },
  });
}

async function expectUnavailable(res: Response, what: string): Promise<void> {
  expect(res.status, what).toBe(503);
  expect(res.headers.get('content-type'), what).toContain('application/json');
  expect(Number(res.headers.get('retry-after')), what).toBeGreaterThan(0);
  expect(((await res.json()) as { error: { code: string } }).error.code, what).toBe('service_unavailable');
}

for (const provider of providers) {
  describe(`recordings API with STORAGE_PROVIDER=${provider.name}`, () => {
    const service = serviceWith(provider.up);
    const owner = `${provider.name}-owner`;

    it('stores a raw upload encrypted on the provider and downloads it byte-exact', async () => {
      const audio = withMagic('wav', 3 * CHUNK + 777);
      audio.set(randomBytes(audio.length - 12), 12);
      const rec = await uploaded(await uploadRaw(service, owner, audio));
      expect(rec.size).toBe(audio.length);
      const key = `recordings/${rec.id}/original.enc`;
      const head = await service.store.head(key);
      expect(head?.size).toBeGreaterThan(audio.length);
      const stored = await bytesOf(new Response((await service.store.get(key))!.body));
      expect(stored.length).toBe(head!.size);
      expect(new TextDecoder('latin1').decode(stored).includes('WAVE')).toBe(false);
      const download = await service.request(`/api/v1/recordings/${rec.id}/download`, { headers: await as(owner) });
      expect(download.status).toBe(200);
      expect(download.headers.get('content-length')).toBe(String(audio.length));
      expect(equalBytes(await bytesOf(download), audio)).toBe(true);
    });

    it('stores an upload of several storage parts byte-exact and leaves no open upload', async () => {
      const openBefore = await count('open_uploads');
      const audio = withMagic('flac', 12 * MiB + 12_345);
      audio.set(randomBytes(2 * MiB), 5000);
      const rec = await uploaded(await uploadRaw(service, owner, pieces(audio)));
      const download = await service.request(`/api/v1/recordings/${rec.id}/download`, { headers: await as(owner) });
      expect(equalBytes(await bytesOf(download), audio)).toBe(true);
      expect(await count('open_uploads')).toBe(openBefore);
    });

    it('stores a multipart/form-data upload byte-exact', async () => {
      const audio = withMagic('ogg', 40_000);
      audio.set(randomBytes(30_000), 100);
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      form.append('audio', new File([audio], 'call.ogg', { type: 'audio/ogg' }));
      const rec = await uploaded(await service.request('/api/v1/recordings', { method: 'POST', headers: await as(owner), body: form }));
      const download = await service.request(`/api/v1/recordings/${rec.id}/download`, { headers: await as(owner) });
      expect(download.headers.get('content-type')).toBe('audio/ogg');
      expect(equalBytes(await bytesOf(download), audio)).toBe(true);
    });

    it('answers ranges with 206 and exactly those bytes, an unsatisfiable one with 416', async () => {
      const audio = withMagic('wav', 10 * CHUNK + 1234);
      audio.set(randomBytes(audio.length - 12), 12);
      const rec = await uploaded(await uploadRaw(service, owner, audio));
      const cases: [string, number, number][] = [
        ['bytes=0-99', 0, 99],
        [`bytes=${CHUNK - 1}-${CHUNK}`, CHUNK - 1, CHUNK],
        [`bytes=${3 * CHUNK + 5}-${5 * CHUNK + 17}`, 3 * CHUNK + 5, 5 * CHUNK + 17],
        ['bytes=-65536', audio.length - 65_536, audio.length - 1],
        [`bytes=${audio.length - 1}-`, audio.length - 1, audio.length - 1],
      ];
      for (const [range, start, end] of cases) {
        const res = await service.request(`/api/v1/recordings/${rec.id}/stream`, { headers: { ...(await as(owner)), range } });
        expect(res.status, range).toBe(206);
        expect(res.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${audio.length}`);
        expect(equalBytes(await bytesOf(res), audio.subarray(start, end + 1)), range).toBe(true);
      }
      const beyond = await service.request(`/api/v1/recordings/${rec.id}/stream`, { headers: { ...(await as(owner)), range: `bytes=${audio.length}-` } });
      expect(beyond.status).toBe(416);
      expect(beyond.headers.get('content-range')).toBe(`bytes */${audio.length}`);
      expect(((await beyond.json()) as { error: { code: string } }).error.code).toBe('range_not_satisfiable');
    });

    it('plays a signed playback URL without credentials, with Range', async () => {
      const audio = withMagic('mp3', 4 * CHUNK);
      // Random bytes after the ID3 tag and the whole MPEG frame header the upload gate checks (14 bytes).
      audio.set(randomBytes(audio.length - 14), 14);
      const rec = await uploaded(await uploadRaw(service, owner, audio));
      const signed = await service.request(`/api/v1/recordings/${rec.id}/playback-url?ttl=60`, { headers: await as(owner) });
      expect(signed.status).toBe(200);
      const { url } = (await signed.json()) as { url: string };
      const played = await service.request(url.replace(/^https?:\/\/[^/]+/, ''), { headers: { range: `bytes=${CHUNK - 10}-${CHUNK + 9}` } });
      expect(played.status).toBe(206);
      expect(equalBytes(await bytesOf(played), audio.subarray(CHUNK - 10, CHUNK + 10))).toBe(true);
      const whole = await service.request(url.replace(/^https?:\/\/[^/]+/, ''));
      expect(whole.status).toBe(200);
      expect(equalBytes(await bytesOf(whole), audio)).toBe(true);
    });

    it('deletes the recording from the provider: head answers null and every route 404', async () => {
      const rec = await uploaded(await uploadRaw(service, owner, withMagic('ogg', 50_000)));
      const key = `recordings/${rec.id}/original.enc`;
      expect(await service.store.head(key)).not.toBeNull();
      const res = await service.request(`/api/v1/recordings/${rec.id}`, { method: 'DELETE', headers: await as(owner) });
      expect(res.status).toBe(204);
      expect(await service.store.head(key)).toBeNull();
      expect(await service.store.get(key)).toBeNull();
      for (const path of ['', '/download', '/stream']) {
        expect((await service.request(`/api/v1/recordings/${rec.id}${path}`, { headers: await as(owner) })).status, path).toBe(404);
      }
    });

    it('a rejected upload (415, or 413 after a storage part was sent) leaves no object, no row and no open upload', async () => {
      const before = { keys: await keysUnder(service.store, 'recordings/'), rows: await count('recordings'), open: await count('open_uploads') };
      const notAudio = await uploadRaw(service, owner, new TextEncoder().encode('<html><body>not audio at all</body></html>'));
      expect(notAudio.status).toBe(415);
      // Over 6 MiB: one 5 MiB storage part is uploaded before the limit trips. s3rver then refuses
      // AbortMultipartUpload (405), which must neither replace the 413 nor leave an object.
      const limited = serviceWith({ ...provider.up, MAX_FILE_SIZE: String(6 * MiB) });
      const tooBig = await uploadRaw(limited, owner, pieces(withMagic('wav', 6 * MiB + 1)));
      expect(tooBig.status).toBe(413);
      expect(((await tooBig.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
      expect(await keysUnder(service.store, 'recordings/')).toEqual(before.keys);
      expect(await count('recordings')).toBe(before.rows);
      expect(await count('open_uploads')).toBe(before.open);
    });
  });

  describe(`when the ${provider.name} provider is down`, () => {
    const up = serviceWith(provider.up);
    const down = serviceWith(provider.down);
    const owner = `${provider.name}-outage-owner`;

    it('uploads answer 503 service_unavailable with Retry-After, and no row claims audio that is not stored', async () => {
      const rowsBefore = await count('recordings');
      const openBefore = new Set((await openUploadRows()).map((r) => r.upload_id));
      await expectUnavailable(await uploadRaw(down, owner, withMagic('wav', 20_000)), 'single-part upload');
      await expectUnavailable(await uploadRaw(down, owner, pieces(withMagic('wav', 11 * MiB))), 'multi-part upload');
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      form.append('audio', new File([withMagic('ogg', 20_000)], 'call.ogg', { type: 'audio/ogg' }));
      await expectUnavailable(await down.request('/api/v1/recordings', { method: 'POST', headers: await as(owner), body: form }), 'form upload');
      expect(await count('recordings')).toBe(rowsBefore);

      // An upload whose parts could not be sent may leave its open_uploads row, and only so that
      // the hourly cron aborts it: for no recording row, and abortable once the provider is back.
      // S3 fails at CreateMultipartUpload, before any row; Azure has no upload to create (blocks
      // are staged straight onto the blob), so its row stays when the parts and the abort fail.
      const left = (await openUploadRows()).filter((r) => !openBefore.has(r.upload_id));
      expect(left).toHaveLength(provider.name === 'azure' ? 1 : 0);
      for (const row of left) {
        expect(row.object_key).toMatch(/^recordings\/[^/]+\/original\.enc$/);
        expect(await env.DB.prepare('select id from recordings where id = ?').bind(row.recording_id).first()).toBeNull();
        await up.store.resumeMultipart(row.object_key, row.upload_id).abort();
        expect(await up.store.head(row.object_key)).toBeNull();
      }
    });

    it('downloads and ranges of a stored recording answer 503 with Retry-After while it is down, and work again after', async () => {
      const audio = withMagic('wav', 2 * CHUNK + 99);
      const rec = await uploaded(await uploadRaw(up, owner, audio));
      await expectUnavailable(await down.request(`/api/v1/recordings/${rec.id}/download`, { headers: await as(owner) }), 'download');
      await expectUnavailable(await down.request(`/api/v1/recordings/${rec.id}/stream`, { headers: { ...(await as(owner)), range: 'bytes=0-9' } }), 'range');
      const back = await up.request(`/api/v1/recordings/${rec.id}/download`, { headers: await as(owner) });
      expect(equalBytes(await bytesOf(back), audio)).toBe(true);
    });

    it('/health answers 503 with status degraded and the storage check down; ok storage when it is up', async () => {
      const res = await down.request('/health');
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; checks: Record<string, { status: string }> };
      expect(body.status).toBe('degraded');
      expect(body.checks.storage!.status).toBe('down');
      expect(body.checks.database!.status).toBe('ok');
      const healthy = await up.request('/health');
      expect(healthy.status).toBe(200);
      expect(((await healthy.json()) as { checks: Record<string, { status: string }> }).checks.storage!.status).toBe('ok');
    });
  });
}
