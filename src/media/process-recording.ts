/**
 * One recording through the FFmpeg server. The original is decrypted as a stream and sent to
 * /probe, then once per rendition to /transcode; each answer is sealed as it arrives, under the
 * recording's own data key with the context `<id>/<quality>` (what playback opens), into
 * objectKeyFor(id, quality). Nothing is held whole: memory is a chunk buffer and the upload's two
 * parts per rendition. Rows are written by the caller only once every rendition is stored, so a
 * run that fails halfway leaves no row pointing at a half-made object.
 */
import { z } from 'zod';
import type { Config } from '../config';
import type { Database } from '../db/client';
import { ChunkSealer, ciphertextSize, createSealStream } from '../crypto/chunked';
import { listRenditions, type RecordingRow } from '../db/recordings';
import { dataKeyFor, openRange } from '../recordings/read';
import { objectKeyFor } from '../storage/object-keys';
import type { BlobStore } from '../storage/blob-store';
import { uploadStream } from '../storage/stream-upload';
import { CONTENT_TYPES, type AudioFormat } from '../domain/audio-format';
import { ffmpegFetch, type FfmpegBindings } from './ffmpeg-client';
import { PermanentFailure, TransientFailure, classifyStorageError, failureFromResponse } from './failures';
import { deleteRenditionRow } from '../db/processing';
import { watchReads } from './watched-stream';

export const RENDITIONS = ['high', 'low', 'mp3'] as const;
export type RenditionQuality = (typeof RENDITIONS)[number];

const RENDITION_FORMATS: Record<RenditionQuality, { format: string; contentType: string }> = {
  high: { format: 'webm', contentType: 'audio/webm' },
  low: { format: 'webm', contentType: 'audio/webm' },
  mp3: { format: 'mp3', contentType: 'audio/mpeg' },
};

/** The server's own limit (MAX_SECONDS, 600 by default) plus the time to send the body. */
const REQUEST_TIMEOUT_MS = 12 * 60_000;

const ProbeAnswer = z.object({
  format: z.string(),
  codec: z.string(),
  durationMs: z.number().positive(),
  channels: z.number(),
  sampleRate: z.number(),
  bitRate: z.number().nullable(),
});

export interface ProcessDeps {
  db: Database;
  store: BlobStore;
  config: Config;
  ffmpeg: FfmpegBindings;
}

export interface StoredRendition {
  quality: RenditionQuality;
  objectKey: string;
  format: string;
  contentType: string;
  size: number;
  ciphertextSize: number;
  durationMs: number | null;
}

export interface ProcessedRecording {
  durationMs: number;
  format: AudioFormat;
  contentType: string;
  renditions: StoredRendition[];
}

/** POST the decrypted original to the FFmpeg server `path`; resolves with a 2xx answer only. */
export async function sendOriginal(deps: ProcessDeps, dataKey: Uint8Array, row: RecordingRow, path: string, siblings?: AbortSignal): Promise<Response> {
  let plaintext: ReadableStream<Uint8Array>;
  try {
    plaintext = await openRange(deps, dataKey, { objectKey: row.objectKey!, size: row.size, context: row.id }, 0, row.size - 1);
  } catch (error) {
    throw classifyStorageError(error);
  }
  const source = watchReads(plaintext);
  // A known length becomes Content-Length: the server refuses an oversized body before reading it.
  const body = source.stream.pipeThrough(new FixedLengthStream(row.size));
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const signal = siblings ? AbortSignal.any([timeout, siblings]) : timeout;
  let response: Response;
  try {
    response = await ffmpegFetch(deps.ffmpeg, deps.config, path, { method: 'POST', body, headers: { 'content-type': row.contentType }, signal });
  } catch (error) {
    if (source.failure() !== undefined) throw classifyStorageError(source.failure());
    if (signal.aborted) throw signal.reason;
    throw new TransientFailure('the media processor could not be reached', { cause: error });
  }
  if (source.failure() !== undefined) {
    await response.body?.cancel();
    throw classifyStorageError(source.failure());
  }
  if (!response.ok) throw await failureFromResponse(response);
  return response;
}

async function probeOriginal(deps: ProcessDeps, dataKey: Uint8Array, row: RecordingRow): Promise<z.infer<typeof ProbeAnswer>> {
  const response = await sendOriginal(deps, dataKey, row, '/probe');
  const parsed = ProbeAnswer.safeParse(await response.json().catch(() => null));
  if (!parsed.success) throw new TransientFailure('the media processor gave an unexpected probe answer');
  return parsed.data;
}

/** Transcode, seal and store one rendition. On failure its object is gone (uploadStream cleans up), so its row goes too. */
async function produceRendition(deps: ProcessDeps, dataKey: Uint8Array, row: RecordingRow, quality: RenditionQuality, siblings: AbortSignal): Promise<StoredRendition> {
  const objectKey = objectKeyFor(row.id, quality);
  try {
    const denoise = deps.config.NOISE_REDUCTION_ENABLED ? '1' : '0';
    const response = await sendOriginal(deps, dataKey, row, `/transcode?profile=${quality}&denoise=${denoise}`, siblings);
    if (!response.body) throw new TransientFailure('the media processor sent an empty answer');
    const answer = watchReads(response.body);
    let size = 0;
    const counted = answer.stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(piece, controller) {
          size += piece.length;
          controller.enqueue(piece);
        },
      }),
    );
    const sealer = await ChunkSealer.create(dataKey, new TextEncoder().encode(`${row.id}/${quality}`));
    let stored: number;
    try {
      ({ size: stored } = await uploadStream(counted.pipeThrough(createSealStream(sealer)), { db: deps.db, store: deps.store, key: objectKey, recordingId: row.id, contentType: 'application/octet-stream' }));
    } catch (error) {
      if (answer.failure() !== undefined) throw new TransientFailure('the media processor’s answer was cut off', { cause: answer.failure() });
      throw error;
    }
    const announced = response.headers.get('content-length');
    if (stored !== ciphertextSize(size) || (announced !== null && Number(announced) !== size)) {
      await deps.store.delete(objectKey);
      throw new TransientFailure('a rendition was stored incompletely');
    }
    const duration = response.headers.get('x-duration-ms');
    return {
      quality,
      objectKey,
      format: RENDITION_FORMATS[quality].format,
      contentType: response.headers.get('content-type')?.split(';')[0]?.trim() || RENDITION_FORMATS[quality].contentType,
      size,
      ciphertextSize: stored,
      durationMs: duration !== null && Number.isFinite(Number(duration)) ? Math.round(Number(duration)) : null,
    };
  } catch (error) {
    await deleteRenditionRow(deps.db, row.id, quality).catch(() => undefined);
    throw error;
  }
}

/**
 * Probe the original and store every rendition. Throws PermanentFailure for audio that cannot be
 * processed, anything else for what may work on a later attempt.
 */
export async function processRecording(deps: ProcessDeps, row: RecordingRow): Promise<ProcessedRecording> {
  if (!row.objectKey) throw new PermanentFailure('The recording has no stored audio');
  if (row.size === 0) throw new PermanentFailure('The recording has no audio');
  let dataKey: Uint8Array;
  try {
    dataKey = await dataKeyFor(deps, row);
  } catch (error) {
    throw classifyStorageError(error);
  }
  const probe = await probeOriginal(deps, dataKey, row);
  // The renditions run side by side (the consumer's time limit is wall time). The first failure
  // stops the others, and is thrown once they have cleaned up (no upload left open behind us).
  const siblings = new AbortController();
  const settled = await Promise.allSettled(
    RENDITIONS.map((quality) =>
      produceRendition(deps, dataKey, row, quality, siblings.signal).catch((error: unknown) => {
        if (!siblings.signal.aborted) siblings.abort(error);
        throw error;
      }),
    ),
  );
  if (siblings.signal.aborted) throw siblings.signal.reason;
  const renditions = settled.map((result) => (result as PromiseFulfilledResult<StoredRendition>).value);
  // The format ffprobe found wins over the one sniffed at upload, when it is one we serve.
  const format = Object.hasOwn(CONTENT_TYPES, probe.format) ? (probe.format as AudioFormat) : (row.format as AudioFormat);
  return { durationMs: Math.round(probe.durationMs), format, contentType: CONTENT_TYPES[format] ?? row.contentType, renditions };
}

/** True when the recording is ready and every rendition's object is stored whole: a repeated job has nothing to do. */
export async function isProcessed(deps: Pick<ProcessDeps, 'db' | 'store'>, row: RecordingRow): Promise<boolean> {
  if (row.status !== 'ready') return false;
  const rows = await listRenditions(deps.db, row.id);
  const checks = RENDITIONS.map(async (quality) => {
    const rendition = rows.find((r) => r.quality === quality);
    if (!rendition) return false;
    const head = await deps.store.head(rendition.objectKey);
    return head !== null && head.size === rendition.ciphertextSize;
  });
  return (await Promise.all(checks)).every(Boolean);
}
