/**
 * Byte helpers for the storage tests: random payloads made and hashed chunk by chunk, a stream fed
 * part by part into a multipart upload (the way uploads reach storage), and SHA-256 of a stream
 * through workerd's DigestStream, so a 100 MB object is never held whole.
 */
import { bytesToHex } from '../../src/encoding';
import type { MultipartUpload, UploadedPart } from '../../src/storage/blob-store';

export const MiB = 1024 * 1024;
/** R2 wants every part but the last the same size, and at least 5 MiB; S3 and Azure accept it too. */
export const PART_SIZE = 5 * MiB;

/** `length` random bytes (getRandomValues fills at most 64 KiB per call). */
export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; at += 65_536) crypto.getRandomValues(bytes.subarray(at, Math.min(length, at + 65_536)));
  return bytes;
}

const toHex = (buffer: ArrayBuffer) => bytesToHex(new Uint8Array(buffer));

export async function sha256(data: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest('SHA-256', data));
}

/** SHA-256 and length of everything `stream` yields, reading it chunk by chunk. */
export async function streamDigest(stream: ReadableStream<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const digest = new crypto.DigestStream('SHA-256');
  let size = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      size += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  await stream.pipeThrough(counter).pipeTo(digest);
  return { sha256: toHex(await digest.digest), size };
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * `total` random bytes in 64 KiB chunks, produced on demand. With `failAfter`, the stream errors
 * once that many bytes have been produced (a client that drops mid-upload).
 */
export function randomStream(total: number, failAfter?: number): ReadableStream<Uint8Array> {
  let produced = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (failAfter !== undefined && produced >= failAfter) {
          controller.error(new Error('client went away'));
          return;
        }
        if (produced >= total) {
          controller.close();
          return;
        }
        const chunk = randomBytes(Math.min(65_536, total - produced));
        produced += chunk.byteLength;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Feeds `source` into `upload` in parts of `partSize` (the last may be shorter), one part in memory
 * at a time, and completes it. Returns what was sent. On any error the upload is aborted before the
 * error is rethrown; an abort that fails too is reported through `onAbortError`.
 */
export async function pumpToMultipart(
  source: ReadableStream<Uint8Array>,
  upload: MultipartUpload,
  options: { partSize?: number; onAbortError?: (error: unknown) => void } = {},
): Promise<{ sha256: string; size: number; parts: UploadedPart[] }> {
  const partSize = options.partSize ?? PART_SIZE;
  const digest = new crypto.DigestStream('SHA-256');
  const digestWriter = digest.getWriter();
  const parts: UploadedPart[] = [];
  let buffer = new Uint8Array(partSize);
  let filled = 0;
  let size = 0;
  const flush = async () => {
    const part = buffer.subarray(0, filled);
    await digestWriter.write(part);
    parts.push(await upload.uploadPart(parts.length + 1, part));
    size += filled;
    buffer = new Uint8Array(partSize);
    filled = 0;
  };
  try {
    const reader = source.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let offset = 0;
      while (offset < value.byteLength) {
        const take = Math.min(partSize - filled, value.byteLength - offset);
        buffer.set(value.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === partSize) await flush();
      }
    }
    if (filled > 0 || parts.length === 0) await flush();
    await upload.complete(parts);
  } catch (error) {
    // The digest of a failed upload is never read; without a handler its rejection would go unhandled.
    digest.digest.catch(() => undefined);
    await digestWriter.abort(error);
    await upload.abort().catch((abortError: unknown) => options.onAbortError?.(abortError));
    throw error;
  }
  await digestWriter.close();
  return { sha256: toHex(await digest.digest), size, parts };
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
