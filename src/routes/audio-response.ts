/**
 * One way to answer with audio, shared by download, stream and signed playback: picks the
 * rendition, resolves the Range, decrypts only what is asked, and audits the read (and any
 * integrity failure) before a byte is sent.
 */
import { audit, type AppContext } from '../context';
import { IntegrityError } from '../crypto/aes-gcm';
import { listRenditions, type RecordingRow } from '../db/recordings';
import { AppError } from '../errors';
import { metrics } from '../observability/metrics';
import { dataKeyFor, openRange, type SealedSource } from '../recordings/read';
import { resolveRange } from '../recordings/range';
import type { Quality } from '../recordings/playback-url';
import { createBlobStore } from '../storage/select';

export interface AudioResponseOptions {
  quality: Quality;
  /** Download: the whole original as an attachment, no Range. */
  attachment?: boolean;
  action: string;
  cacheControl: string;
}

export async function respondWithAudio(c: AppContext, row: RecordingRow, options: AudioResponseOptions): Promise<Response> {
  if (row.storageTier === 'archive' || row.pendingTier) throw new AppError('archived', 'The recording is archived; restore it first');
  if (!row.objectKey) throw new AppError('conflict', 'The recording has no stored audio yet');
  const config = c.get('config');
  const deps = { db: c.get('db'), store: createBlobStore(c.env, config), config };

  let served: 'original' | 'high' | 'low' = 'original';
  let source: SealedSource = { objectKey: row.objectKey, size: row.size, context: row.id };
  let contentType = row.contentType;
  if (options.quality !== 'original') {
    const rendition = (await listRenditions(deps.db, row.id)).find((r) => r.quality === options.quality);
    if (rendition) {
      served = options.quality;
      source = { objectKey: rendition.objectKey, size: rendition.size, context: `${row.id}/${rendition.quality}` };
      contentType = rendition.contentType;
    }
  }

  const range = options.attachment ? null : resolveRange(c.req.header('range'), source.size);
  const start = range?.start ?? 0;
  const end = range?.end ?? source.size - 1;
  let body: ReadableStream<Uint8Array>;
  try {
    body = await openRange(deps, await dataKeyFor(deps, row), source, start, end);
  } catch (error) {
    if (error instanceof IntegrityError) {
      await audit(c, { action: 'recording.integrity_failure', recordingId: row.id, outcome: 'failure', details: { reason: error.reason, rendition: served } });
      c.get('log').error('stored audio failed its integrity check', { recordingId: row.id, reason: error.reason });
    }
    throw error;
  }
  await audit(c, { action: options.action, recordingId: row.id, outcome: 'success', details: { rendition: served, start, end } });
  metrics.downloadBytes.inc({ rendition: served }, end - start + 1);

  const headers = new Headers({
    'content-type': contentType,
    'content-length': String(end - start + 1),
    'accept-ranges': 'bytes',
    'x-rendition': served,
    'cache-control': options.cacheControl,
    'x-request-id': c.get('requestId'),
  });
  if (options.attachment) headers.set('content-disposition', `attachment; filename="${row.id}.${served === 'original' ? row.format : 'webm'}"`);
  if (range) headers.set('content-range', `bytes ${start}-${end}/${source.size}`);
  return new Response(body, { status: range ? 206 : 200, headers });
}
