/**
 * Reading audio back: only the sealed chunks covering the requested bytes are fetched and
 * decrypted, each authenticated before any of its bytes leaves. When the range reaches the final
 * chunk (a suffix range, or a whole download) that chunk is authenticated first, so a truncated
 * or extended object fails before a byte is sent. The first piece is decrypted before the
 * response starts, so a bad key or header becomes a clear JSON error rather than a broken body.
 */
import type { Config } from '../config';
import type { Database } from '../db/client';
import { CHUNK_SIZE, ChunkOpener, HEADER_SIZE, IntegrityError, chunkSpan, ciphertextSize, createOpenStream } from '../crypto/chunked';
import { unwrapRecordingKey } from '../crypto/keys';
import type { RecordingRow } from '../db/recordings';
import { AppError } from '../errors';
import { RangeOutsideObject, type BlobStore } from '../storage/blob-store';

/** Where one encrypted object is and how to open it. */
export interface SealedSource {
  objectKey: string;
  /** Plaintext size. */
  size: number;
  /** The AEAD context: the recording id, or `<id>/<quality>` for renditions. */
  context: string;
}

export interface ReadDeps {
  db: Database;
  store: BlobStore;
  config: Config;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * A range of the object. Every read also checks the object's whole size against the size the
 * plaintext implies, so a truncated or extended object fails even where the range does not reach
 * the damage.
 */
async function fetchRange(store: BlobStore, key: string, offset: number, length: number, expectedSize: number): Promise<ReadableStream<Uint8Array>> {
  try {
    const object = await store.get(key, { offset, length });
    if (!object) throw new AppError('not_found', 'The stored audio is missing');
    if (object.size !== expectedSize) {
      await object.body.cancel();
      throw new IntegrityError(object.size > expectedSize ? 'trailing' : 'truncated', `the stored object has ${object.size} bytes, ${expectedSize} expected`);
    }
    return object.body;
  } catch (error) {
    if (error instanceof RangeOutsideObject) throw new IntegrityError('truncated', 'the stored object is shorter than its recorded size', { cause: error });
    throw error;
  }
}

async function fetchBytes(store: BlobStore, key: string, offset: number, length: number, expectedSize: number): Promise<Uint8Array> {
  return readAll(await fetchRange(store, key, offset, length, expectedSize));
}

/** The recording's data key, unwrapped with its owner's key of the stored version. */
export function dataKeyFor(deps: { db: Database; config: Pick<Config, 'MASTER_ENCRYPTION_KEY'> }, row: RecordingRow): Promise<Uint8Array> {
  if (!row.wrappedDataKey || row.keyVersion === null) throw new AppError('conflict', 'The recording has no stored audio yet');
  return unwrapRecordingKey(deps.db, deps.config.MASTER_ENCRYPTION_KEY, row.userId, row.keyVersion, new Uint8Array(row.wrappedDataKey), row.id);
}

/** Keep plaintext bytes [skip, skip + take) of the stream. */
function slice(skip: number, take: number): TransformStream<Uint8Array, Uint8Array> {
  let position = 0;
  return new TransformStream({
    transform(piece, controller) {
      const from = Math.max(0, skip - position);
      const to = Math.min(piece.length, skip + take - position);
      position += piece.length;
      if (to > from) controller.enqueue(piece.subarray(from, to));
    },
  });
}

/**
 * Plaintext bytes [start, end] of a sealed object as a stream whose first piece is already
 * authenticated (IntegrityError is thrown here, not mid-body, for a bad header or first chunk).
 */
export async function openRange(deps: ReadDeps, dataKey: Uint8Array, source: SealedSource, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
  const length = end - start + 1;
  const span = chunkSpan(start, length, source.size);
  const finalChunk = Math.floor(source.size / CHUNK_SIZE);
  const context = new TextEncoder().encode(source.context);
  const expectedSize = ciphertextSize(source.size);
  const header = await fetchBytes(deps.store, source.objectKey, 0, HEADER_SIZE, expectedSize);
  const opener = await ChunkOpener.create(dataKey, context, header);
  if (span.lastChunk === finalChunk && span.firstChunk !== finalChunk) {
    const finalSpan = chunkSpan(finalChunk * CHUNK_SIZE, source.size - finalChunk * CHUNK_SIZE, source.size);
    await opener.openChunk(finalChunk, await fetchBytes(deps.store, source.objectKey, finalSpan.ciphertextOffset, finalSpan.ciphertextLength, expectedSize), true);
  }
  const plaintext = (await fetchRange(deps.store, source.objectKey, span.ciphertextOffset, span.ciphertextLength, expectedSize))
    .pipeThrough(createOpenStream(opener, span.firstChunk, finalChunk, span.lastChunk))
    .pipeThrough(slice(start - span.firstChunk * CHUNK_SIZE, length));
  const reader = plaintext.getReader();
  const first = await reader.read();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (first.done) controller.close();
      else controller.enqueue(first.value);
    },
    async pull(controller) {
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
