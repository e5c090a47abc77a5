/**
 * Streams a body of unknown length into a BlobStore in equal-sized parts (an R2 rule; the last
 * part may be shorter). At most one part is being filled while the previous one uploads, so memory
 * stays at about two parts whatever the size. Every multipart upload is recorded in D1
 * (`open_uploads`) before its first part and forgotten after complete/abort, so a crash leaves a
 * row the hourly cron aborts; any error aborts the upload and leaves no object behind (and no row,
 * unless the abort itself could not reach the provider: then the row is what the cron aborts).
 */
import type { Database } from '../db/client';
import { forgetUpload, trackUpload } from '../db/lifecycle';
import { type BlobStore, type MultipartUpload, StorageUnavailable, type UploadedPart } from './blob-store';

/** 320 sealed chunks of 16,400 bytes: ≥ 5 MiB (the S3/R2 minimum) and a whole number of chunks. */
export const PART_SIZE = 320 * 16_400;

export interface StreamUploadOptions {
  db: Database;
  store: BlobStore;
  key: string;
  contentType?: string;
  recordingId?: string;
  partSize?: number;
}

/** Upload `body` to `key`; returns the number of bytes stored. Throws (after cleaning up) on any error. */
export async function uploadStream(body: ReadableStream<Uint8Array>, options: StreamUploadOptions): Promise<{ size: number }> {
  const partSize = options.partSize ?? PART_SIZE;
  const reader = body.getReader();
  let buffer = new Uint8Array(partSize);
  let filled = 0;
  let total = 0;
  let upload: MultipartUpload | undefined;
  let inFlight: Promise<UploadedPart> | undefined;
  const parts: UploadedPart[] = [];

  const begin = async () => {
    const started = await options.store.createMultipart(options.key, options.contentType);
    await trackUpload(options.db, { uploadId: started.uploadId, objectKey: options.key, recordingId: options.recordingId ?? null });
    return started;
  };
  const sendPart = async (data: Uint8Array) => {
    upload ??= await begin();
    if (inFlight) parts.push(await inFlight);
    const current = upload;
    inFlight = current.uploadPart(parts.length + 1, data);
    // Keep a rejected part from surfacing as an unhandled rejection before it is awaited.
    inFlight.catch(() => undefined);
  };

  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let at = 0;
      while (at < value.length) {
        const take = Math.min(value.length - at, partSize - filled);
        buffer.set(value.subarray(at, at + take), filled);
        filled += take;
        at += take;
        total += take;
        if (filled === partSize) {
          await sendPart(buffer);
          buffer = new Uint8Array(partSize);
          filled = 0;
        }
      }
    }
    if (!upload) {
      await options.store.putBytes(options.key, buffer.subarray(0, filled), options.contentType);
      return { size: total };
    }
    if (filled > 0) await sendPart(buffer.subarray(0, filled));
    if (inFlight) parts.push(await inFlight);
    await upload.complete(parts);
    await forgetUpload(options.db, upload.uploadId);
    return { size: total };
  } catch (error) {
    // Cleanup is best effort and never replaces `error`: a 413 or 415 stays a 413 or 415 even when
    // the provider then refuses the abort.
    await reader.cancel(error).catch(() => undefined);
    if (upload) {
      // A part still in flight could land after the abort and outlive it (S3 says as much).
      await inFlight?.catch(() => undefined);
      await abandon(options.db, upload);
    }
    // A single-part upload, or an object that completed before the failure.
    await options.store.delete(options.key).catch(() => undefined);
    throw error;
  }
}

/**
 * Frees the parts of an upload that will not be completed. Its `open_uploads` row goes once the
 * parts are gone, and also when the provider refuses to abort at all (s3rver has no
 * AbortMultipartUpload; asking again cannot help, and no object exists until completion). When the
 * provider is unreachable the row stays: the hourly cron aborts the upload once it is back.
 */
async function abandon(db: Database, upload: MultipartUpload): Promise<void> {
  try {
    await upload.abort();
  } catch (error) {
    if (error instanceof StorageUnavailable) return;
  }
  await forgetUpload(db, upload.uploadId).catch(() => undefined);
}
