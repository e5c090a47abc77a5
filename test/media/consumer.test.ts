/**
 * The media queue consumer against the real FFmpeg worker (started by test/global-setup-ffmpeg.ts).
 * Uploads through the API are processed by the real queue (miniflare delivers them to the Worker's
 * `queue` handler); the failure paths drive the handler directly with a MessageBatch, on recordings
 * stored through the upload service with a queue that keeps its messages, so that no background
 * delivery races the assertions.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test';
import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { getConfig, type Bindings } from '../../src/config';
import { createDb } from '../../src/db/client';
import { findRecording, listRenditions, type RecordingRow } from '../../src/db/recordings';
import { auditEvents } from '../../src/db/schema';
import worker from '../../src/index';
import type { MediaJob } from '../../src/domain/media-jobs';
import { UNREADABLE_AUDIO } from '../../src/media/failures';
import { signPlaybackUrl } from '../../src/recordings/playback-url';
import { dataKeyFor, openRange } from '../../src/recordings/read';
import { uploadRaw as storeUpload } from '../../src/recordings/upload';
import { objectKeyFor } from '../../src/storage/object-keys';
import { createBlobStore } from '../../src/storage/select';
import { settleAudit } from '../support/audit';
import { as, call } from '../support/auth';
import { sineWav, withMagic } from '../support/audio';
import { bytesOf, equalBytes, fields, uploadOk, uploadServiceDeps } from '../support/recordings';
import { TEST_SECRETS } from '../support/secrets';

const MEDIA_QUEUE = 'call-recorder-media';
const DEAD_LETTER_QUEUE = 'call-recorder-media-dlq';
const SECONDS = 6.25;
const owner = 'media-owner';

const config = getConfig(env);
const db = createDb(env.DB);
const store = createBlobStore(env, config);

interface Probe {
  format: string;
  codec: string;
  durationMs: number;
  channels: number;
  sampleRate: number;
}

/** What the FFmpeg worker's ffprobe says about `bytes`. */
async function probe(bytes: Uint8Array): Promise<Probe> {
  const res = await fetch(`${inject('ffmpegUrl')}/probe`, { method: 'POST', headers: { authorization: `Bearer ${TEST_SECRETS.FFMPEG_SHARED_SECRET}` }, body: bytes });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

/** Deliver one `process` job to the Worker's queue handler and collect its ack/retry decisions. */
async function deliver(recordingId: string, options: { queue?: string; attempts?: number; env?: Record<string, string>; body?: unknown } = {}) {
  const id = crypto.randomUUID();
  const body = options.body ?? ({ type: 'process', recordingId } satisfies MediaJob);
  const batch = createMessageBatch(options.queue ?? MEDIA_QUEUE, [{ id, timestamp: new Date(), attempts: options.attempts ?? 1, body }]);
  // getQueueResult reports that a retry was asked for, not its delay: keep the options too.
  const message = batch.messages[0]!;
  const retry = message.retry.bind(message);
  let retryOptions: QueueRetryOptions | undefined;
  message.retry = (given) => {
    retryOptions = given;
    retry(given);
  };
  const ctx = createExecutionContext();
  const bindings = (options.env ? { ...env, ...options.env } : env) as Bindings;
  await (worker as ExportedHandler<Bindings>).queue!(batch, bindings, ctx);
  const result = await getQueueResult(batch, ctx);
  const retried = result.retryMessages.some((m) => m.msgId === id);
  return { acked: result.explicitAcks.includes(id), retry: retried ? { delaySeconds: retryOptions?.delaySeconds } : undefined };
}

/** A recording stored through the upload service; its job is kept, not delivered. */
async function storeWithoutDelivery(bytes: Uint8Array): Promise<string> {
  const sent: unknown[] = [];
  const queue = { send: async (body: unknown) => void sent.push(body), sendBatch: async () => undefined } as unknown as Queue;
  const row = await storeUpload(uploadServiceDeps(db, store, config, queue), owner, fields, new Response(bytes).body!);
  expect(sent).toEqual([{ type: 'process', recordingId: row.id }]);
  return row.id;
}

async function recording(id: string): Promise<RecordingRow> {
  const row = await findRecording(db, id);
  if (!row) throw new Error(`no recording ${id}`);
  return row;
}

async function waitForStatus(id: string, wanted: RecordingRow['status'], timeoutMs = 45_000): Promise<RecordingRow> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const row = await recording(id);
    if (row.status === wanted) return row;
    if (Date.now() > until) throw new Error(`recording ${id} is ${row.status} after ${timeoutMs} ms, expected ${wanted}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The decrypted bytes of a stored rendition. */
async function renditionBytes(id: string, quality: 'high' | 'low' | 'mp3'): Promise<Uint8Array> {
  const rendition = (await listRenditions(db, id)).find((r) => r.quality === quality);
  if (!rendition) throw new Error(`no ${quality} rendition of ${id}`);
  const deps = { db, store, config };
  const body = await openRange(deps, await dataKeyFor(deps, await recording(id)), { objectKey: rendition.objectKey, size: rendition.size, context: `${id}/${quality}` }, 0, rendition.size - 1);
  return bytesOf(new Response(body));
}

async function auditOf(id: string, action: string) {
  await settleAudit();
  return db.select().from(auditEvents).where(and(eq(auditEvents.recordingId, id), eq(auditEvents.action, action))).all();
}

describe(`an uploaded recording through the real queue and FFmpeg worker (${inject('ffmpegEngine')} engine)`, () => {
  let id: string;
  let original: Uint8Array;

  beforeAll(async () => {
    original = sineWav(SECONDS, 440, 16000);
    id = (await uploadOk(owner, original)).id;
    await waitForStatus(id, 'ready');
  });

  it('becomes ready within a bounded time, with the duration ffprobe measures, audited as system:media', async () => {
    const res = await call(`/api/v1/recordings/${id}`, { headers: await as(owner) });
    const body = (await res.json()) as { status: string; durationMs: number; format: string; failureReason: string | null };
    expect(body).toMatchObject({ status: 'ready', format: 'wav', failureReason: null });
    expect(Math.abs(body.durationMs - SECONDS * 1000)).toBeLessThanOrEqual(50);
    expect(Math.abs(body.durationMs - (await probe(original)).durationMs)).toBeLessThanOrEqual(50);
    const [event] = await auditOf(id, 'recording.processed');
    expect(event).toMatchObject({ actor: 'system:media', outcome: 'success', subjectUserId: owner });
    expect(event!.details).toMatchObject({ durationMs: body.durationMs, format: 'wav' });
  });

  it('stores high, low and mp3 renditions that decode with their codec, channels and duration', async () => {
    const rows = await listRenditions(db, id);
    expect(rows.map((r) => r.quality).sort()).toEqual(['high', 'low', 'mp3']);
    const expected = { high: { format: 'webm', codec: 'opus' }, low: { format: 'webm', codec: 'opus', channels: 1 }, mp3: { format: 'mp3', codec: 'mp3' } };
    for (const row of rows) {
      expect(row.objectKey).toBe(objectKeyFor(id, row.quality));
      const decoded = await probe(await renditionBytes(id, row.quality));
      expect(decoded, row.quality).toMatchObject(expected[row.quality]);
      expect(Math.abs(decoded.durationMs - SECONDS * 1000), row.quality).toBeLessThanOrEqual(50);
      expect(Math.abs((row.durationMs ?? 0) - SECONDS * 1000), row.quality).toBeLessThanOrEqual(50);
    }
  });

  it('streams the high rendition with X-Rendition, its content type and byte ranges', async () => {
    const full = await call(`/api/v1/recordings/${id}/stream?quality=high`, { headers: await as(owner) });
    expect(full.status).toBe(200);
    expect(full.headers.get('x-rendition')).toBe('high');
    expect(full.headers.get('content-type')).toBe('audio/webm');
    const whole = await bytesOf(full);
    expect(equalBytes(whole, await renditionBytes(id, 'high'))).toBe(true);
    expect(whole.length).toBeGreaterThan(16384 + 1000);
    const ranged = await call(`/api/v1/recordings/${id}/stream?quality=high`, { headers: { ...(await as(owner)), range: 'bytes=16000-16999' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('x-rendition')).toBe('high');
    expect(ranged.headers.get('content-range')).toBe(`bytes 16000-16999/${whole.length}`);
    expect(equalBytes(await bytesOf(ranged), whole.subarray(16000, 17000))).toBe(true);
  });

  it('serves the low rendition by stream and by signed URL', async () => {
    const low = await call(`/api/v1/recordings/${id}/stream?quality=low`, { headers: await as(owner) });
    expect(low.headers.get('x-rendition')).toBe('low');
    const lowBytes = await bytesOf(low);
    const { url } = await signPlaybackUrl(TEST_SECRETS.MASTER_ENCRYPTION_KEY, 'http://recorder.test', id, 'low', 60, { id: owner, role: 'user' });
    const played = await call(new URL(url).pathname + new URL(url).search, { headers: { range: 'bytes=-100' } });
    expect(played.status).toBe(206);
    expect(played.headers.get('x-rendition')).toBe('low');
    expect(equalBytes(await bytesOf(played), lowBytes.subarray(lowBytes.length - 100))).toBe(true);
  });

  it('takes a repeated job as done: same rows, same objects, still ready', async () => {
    const rowsBefore = await listRenditions(db, id);
    const headsBefore = await Promise.all(rowsBefore.map((r) => store.head(r.objectKey)));
    const processedBefore = (await auditOf(id, 'recording.processed')).length;
    const result = await deliver(id);
    expect(result).toMatchObject({ acked: true, retry: undefined });
    expect(await listRenditions(db, id)).toEqual(rowsBefore);
    expect(await Promise.all(rowsBefore.map((r) => store.head(r.objectKey)))).toEqual(headsBefore);
    expect((await recording(id)).status).toBe('ready');
    expect((await auditOf(id, 'recording.processed')).length).toBe(processedBefore);
  });

  it('rebuilds a rendition whose object is missing, under the same key and row', async () => {
    const high = (await listRenditions(db, id)).find((r) => r.quality === 'high')!;
    await store.delete(high.objectKey);
    const result = await deliver(id);
    expect(result).toMatchObject({ acked: true, retry: undefined });
    const rows = await listRenditions(db, id);
    expect(rows.length).toBe(3);
    expect(rows.find((r) => r.quality === 'high')).toMatchObject({ objectKey: high.objectKey, size: high.size });
    expect((await store.head(high.objectKey))?.size).toBe(high.ciphertextSize);
    const res = await call(`/api/v1/recordings/${id}/stream?quality=high`, { headers: { ...(await as(owner)), range: 'bytes=0-3' } });
    expect([...(await bytesOf(res))]).toEqual([0x1a, 0x45, 0xdf, 0xa3]);
    expect((await recording(id)).status).toBe('ready');
  });

  it('leaves a ready recording alone when a dead-letter message arrives for it', async () => {
    expect(await deliver(id, { queue: DEAD_LETTER_QUEUE })).toMatchObject({ acked: true });
    expect(await recording(id)).toMatchObject({ status: 'ready', failureReason: null });
  });
});

describe('failures', () => {
  it('marks audio ffprobe cannot read as failed at once, with a generic reason (never ffmpeg\'s words), and keeps the original', async () => {
    const garbage = withMagic('wav', 8192);
    const id = await storeWithoutDelivery(garbage);
    const result = await deliver(id);
    expect(result).toMatchObject({ acked: true, retry: undefined });
    const row = await recording(id);
    expect(row.status).toBe('failed');
    expect(row.failureReason).toBe(UNREADABLE_AUDIO);
    expect(row.failureReason).not.toMatch(/invalid data|input|ffmpeg|ffprobe|\//i);
    expect(await listRenditions(db, id)).toEqual([]);
    const download = await call(`/api/v1/recordings/${id}/download`, { headers: await as(owner) });
    expect(download.status).toBe(200);
    expect(equalBytes(await bytesOf(download), garbage)).toBe(true);
    const stream = await call(`/api/v1/recordings/${id}/stream?quality=high`, { headers: await as(owner) });
    expect(stream.headers.get('x-rendition')).toBe('original');
    await stream.body?.cancel();
    const [event] = await auditOf(id, 'recording.processing_failed');
    expect(event).toMatchObject({ actor: 'system:media', outcome: 'failure', details: { reason: row.failureReason } });
  });

  it('retries with exponential backoff while the FFmpeg worker is down, storing nothing', async () => {
    const id = await storeWithoutDelivery(sineWav(1, 440, 8000));
    const down = { FFMPEG_URL: inject('ffmpegDownUrl') };
    expect(await deliver(id, { env: down })).toMatchObject({ acked: false, retry: { delaySeconds: 30 } });
    expect(await deliver(id, { env: down, attempts: 3 })).toMatchObject({ acked: false, retry: { delaySeconds: 120 } });
    expect(await recording(id)).toMatchObject({ status: 'processing', failureReason: null });
    expect(await listRenditions(db, id)).toEqual([]);
    for (const quality of ['high', 'low', 'mp3'] as const) expect(await store.head(objectKeyFor(id, quality))).toBeNull();
    const retries = await auditOf(id, 'recording.processing_retry');
    expect(retries.map((e) => e.details)).toEqual([
      { attempt: 1, reason: 'the media processor could not be reached', delaySeconds: 30 },
      { attempt: 3, reason: 'the media processor could not be reached', delaySeconds: 120 },
    ]);
  });

  it('marks the recording failed with the last reason when its job reaches the dead-letter queue', async () => {
    const id = await storeWithoutDelivery(sineWav(1, 440, 8000));
    expect(await deliver(id, { env: { FFMPEG_URL: inject('ffmpegDownUrl') }, attempts: 6 })).toMatchObject({ retry: { delaySeconds: expect.any(Number) } });
    expect(await deliver(id, { queue: DEAD_LETTER_QUEUE })).toMatchObject({ acked: true, retry: undefined });
    expect(await recording(id)).toMatchObject({ status: 'failed', failureReason: 'Processing failed after 6 attempts: the media processor could not be reached' });
    const res = await call(`/api/v1/recordings/${id}`, { headers: await as(owner) });
    expect(await res.json()).toMatchObject({ status: 'failed', failureReason: 'Processing failed after 6 attempts: the media processor could not be reached' });
    const [event] = await auditOf(id, 'recording.processing_failed');
    expect(event).toMatchObject({ actor: 'system:media', details: { deadLetter: true } });
  });

  it('retries when the FFmpeg worker refuses our secret', async () => {
    const id = await storeWithoutDelivery(sineWav(1, 440, 8000));
    const result = await deliver(id, { env: { FFMPEG_SHARED_SECRET: 'not-the-ffmpeg-secret-0123' } });
    expect(result).toMatchObject({ acked: false, retry: { delaySeconds: 30 } });
    expect((await auditOf(id, 'recording.processing_retry'))[0]?.details).toMatchObject({ reason: 'the media processor refused our credentials' });
  });

  it('acknowledges a job for a recording that does not exist, and a message that is not a job', async () => {
    expect(await deliver('rec_00000000000000000000000000')).toMatchObject({ acked: true, retry: undefined });
    expect(await deliver('', { body: { type: 'unknown' } })).toMatchObject({ acked: true, retry: undefined });
  });
});

describe('archived while it is processed', () => {
  const tierOf = async (key: string) => (await env.RECORDINGS.head(key))?.customMetadata?.tier ?? 'hot';
  const post = async (path: string) => call(path, { method: 'POST', headers: await as(owner) });

  it('archived before its job starts: the job waits, the restore queues it again, and everything is there', async () => {
    const bytes = sineWav(2, 330, 16000);
    const id = await storeWithoutDelivery(bytes);
    const archived = await post(`/api/v1/lifecycle/${id}/archive`);
    expect(archived.status).toBe(200);
    expect(((await archived.json()) as { storageTier: string; status: string })).toMatchObject({ storageTier: 'archive', status: 'processing' });
    expect(await deliver(id)).toEqual({ acked: true, retry: undefined });
    expect((await recording(id)).status).toBe('processing');
    expect(await listRenditions(db, id)).toEqual([]);
    for (const quality of ['high', 'low', 'mp3'] as const) expect(await env.RECORDINGS.head(objectKeyFor(id, quality))).toBeNull();
    expect(await auditOf(id, 'recording.processing_deferred')).toHaveLength(1);

    // The restore queues the job on the real queue, which miniflare delivers.
    expect((await post(`/api/v1/lifecycle/${id}/restore`)).status).toBe(200);
    await waitForStatus(id, 'ready');
    const rows = await listRenditions(db, id);
    expect(rows.map((r) => r.quality).sort()).toEqual(['high', 'low', 'mp3']);
    for (const row of rows) expect(await tierOf(row.objectKey), row.quality).toBe('hot');
    expect(equalBytes(await bytesOf(await call(`/api/v1/recordings/${id}/download`, { headers: await as(owner) })), bytes)).toBe(true);
    expect(Math.abs((await probe(await renditionBytes(id, 'high'))).durationMs - 2000)).toBeLessThanOrEqual(50);
  });

  it('archived while its job runs: the renditions it stores go to the archive tier, none is left hot', async () => {
    // Long enough that the job is still transcoding when the archive request arrives.
    const id = await storeWithoutDelivery(sineWav(90, 440, 16000));
    const job = deliver(id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await post(`/api/v1/lifecycle/${id}/archive`)).status).toBe(200);
    expect(await job).toEqual({ acked: true, retry: undefined });
    const row = await recording(id);
    expect(row).toMatchObject({ status: 'ready', storageTier: 'archive' });
    // Events of different requests sit in different audit shards: order them by their time, not their seq.
    const archivedAt = Date.parse(String((await auditOf(id, 'recording.archive'))[0]!.at));
    const processedAt = Date.parse(String((await auditOf(id, 'recording.processed'))[0]!.at));
    expect(archivedAt).toBeLessThan(processedAt);
    const rows = await listRenditions(db, id);
    expect(rows).toHaveLength(3);
    for (const key of [row.objectKey!, ...rows.map((r) => r.objectKey)]) expect(await tierOf(key), key).toBe('archive');
  });
});
