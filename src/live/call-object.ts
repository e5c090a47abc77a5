/**
 * A call's encrypted object, written while the call goes on: frames from the call's storage are
 * opened and sealed into the chunked format as 16 KiB chunks fill (the format needs no look-ahead), full
 * parts go to a multipart upload in the background, and at the end the rest is uploaded and the
 * upload completed (or, for a call shorter than one part, the object is put whole). Every part is
 * rebuilt from stored sealed chunks and the header, so a part uploaded again after a restart is
 * byte-identical: the sealer is re-created from the stored wrapped key and salt.
 */
import { getConfig, type Bindings, type Config } from '../config';
import { createDb, type Database } from '../db/client';
import { CHUNK_SIZE, TAG_SIZE } from '../crypto/chunked';
import { FRAME_OVERHEAD } from '../crypto/live-frames';
import { forgetUpload, trackUpload } from '../db/lifecycle';
import { describeError, type Logger } from '../observability/logger';
import { objectKeyFor } from '../storage/object-keys';
import type { BlobStore, MultipartUpload } from '../storage/blob-store';
import { createBlobStore } from '../storage/select';
import type { CallKeys } from './call-keys';
import type { CallState, CallStore } from './call-store';
import { PART_SIZE, assembleRange, fullPartsAvailable, lastChunkBefore, objectLength, partRange } from './object-layout';

/** After a failed part upload, wait before trying again (the audio stays in the call's storage meanwhile). */
const UPLOAD_RETRY_MS = 5_000;

export class CallObjectWriter {
  private upload?: MultipartUpload;
  private uploading?: Promise<void>;
  private retryUploadAfter = 0;
  private closing = false;

  constructor(
    private readonly env: Bindings,
    private readonly store: CallStore,
    private readonly keys: CallKeys,
    private readonly log: Logger,
  ) {}

  private get config(): Config {
    return getConfig(this.env);
  }

  private get db(): Database {
    return createDb(this.env.DB);
  }

  private get blobs(): BlobStore {
    return createBlobStore(this.env, this.config);
  }

  /** No more background uploads: waits for the one under way, before the end of the call takes over. */
  async close(): Promise<void> {
    this.closing = true;
    await this.uploading;
  }

  /**
   * The first `length` plaintext bytes not yet in chunks (frames opened), and where the stream
   * stands after them. `skip`: start that many bytes further in; frames wholly before that are
   * passed by their size, unopened (only the call's format check skips, and it uses only `plaintext`).
   */
  private async takePlaintext(state: CallState, length: number, skip = 0): Promise<{ plaintext: Uint8Array; consumedThrough: number | null; offset: number }> {
    const { frames } = await this.keys.for(state);
    const plaintext = new Uint8Array(length);
    let filled = 0;
    let consumedThrough: number | null = null;
    let offset = 0;
    let start = state.streamOffset;
    let skipping = skip;
    for (const row of this.store.streamRows()) {
      if (filled === length) break;
      if (skipping > 0) {
        const rest = row.data.length - FRAME_OVERHEAD - start;
        if (skipping >= rest) {
          skipping -= rest;
          start = 0;
          continue;
        }
        start += skipping;
        skipping = 0;
      }
      const data = await frames.open(row.seq, row.data);
      const available = data.length - start;
      const take = Math.min(available, length - filled);
      plaintext.set(data.subarray(start, start + take), filled);
      filled += take;
      if (take === available) {
        consumedThrough = row.seq;
        offset = 0;
      } else {
        offset = start + take;
      }
      start = 0;
    }
    if (filled !== length) throw new Error(`the stream holds ${filled} bytes, expected ${length}`);
    return { plaintext, consumedThrough, offset };
  }

  /**
   * The call's plaintext bytes `from` up to `to` (at most what it has), while none of them is
   * sealed into a chunk yet: only the frames holding them are opened.
   */
  async bytesBetween(state: CallState, from: number, to: number): Promise<Uint8Array> {
    const end = Math.min(to, state.streamBytes);
    return (await this.takePlaintext(state, Math.max(0, end - from), from)).plaintext;
  }

  async sealFullChunks(): Promise<void> {
    const state = this.store.state()!;
    const count = Math.floor(state.streamBytes / CHUNK_SIZE);
    if (count === 0) return;
    const { plaintext, consumedThrough, offset } = await this.takePlaintext(state, count * CHUNK_SIZE);
    const sealer = (await this.keys.for(state)).chunks;
    const sealed = await Promise.all(
      Array.from({ length: count }, (_, i) => sealer.sealChunk(state.sealedChunks + i, plaintext.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE), false)),
    );
    this.store.commitSealed(sealed, count * CHUNK_SIZE, consumedThrough, offset, false);
  }

  /** The final chunk is always shorter than CHUNK_SIZE (possibly empty): the end-of-message mark. */
  async sealFinalChunk(): Promise<void> {
    const state = this.store.state()!;
    const { plaintext } = await this.takePlaintext(state, state.streamBytes);
    const sealer = (await this.keys.for(state)).chunks;
    const sealed = await sealer.sealChunk(state.sealedChunks, plaintext, true);
    this.store.commitSealed([sealed], plaintext.length, null, 0, true);
  }

  /** Start uploading full parts in the background unless one is under way or failing. */
  pumpParts(): void {
    if (this.uploading || this.closing || Date.now() < this.retryUploadAfter) return;
    const state = this.store.state()!;
    if (fullPartsAvailable(state.sealedChunks) <= this.store.parts().length) return;
    const upload = async () => {
      try {
        for (;;) {
          const current = this.store.state()!;
          const done = this.store.parts().length;
          if (fullPartsAvailable(current.sealedChunks) <= done) return;
          await this.uploadPart(current, done + 1, objectLength(current.sealedChunks));
        }
      } catch (error) {
        this.retryUploadAfter = Date.now() + UPLOAD_RETRY_MS;
        this.log.warn('live part upload failed; the audio stays in the call object and is retried', { ...describeError(error) });
      }
    };
    // `finally` runs after this assignment, whatever `upload` does synchronously.
    this.uploading = upload().finally(() => {
      this.uploading = undefined;
    });
  }

  private async multipart(state: CallState): Promise<MultipartUpload> {
    if (this.upload) return this.upload;
    const key = objectKeyFor(state.recordingId);
    const uploadId = this.store.state()!.uploadId;
    if (uploadId) {
      this.upload = this.blobs.resumeMultipart(key, uploadId);
    } else {
      const upload = await this.blobs.createMultipart(key, 'application/octet-stream');
      // Tracked in D1 like every multipart upload, so one left by a lost call object is aborted by the cron.
      await trackUpload(this.db, { uploadId: upload.uploadId, objectKey: key, recordingId: state.recordingId });
      this.store.setUploadId(upload.uploadId);
      this.upload = upload;
    }
    return this.upload;
  }

  /** Part `part` of an object of `length` bytes, rebuilt from the header and the stored sealed chunks. */
  private async uploadPart(state: CallState, part: number, length: number): Promise<void> {
    const sealer = (await this.keys.for(state)).chunks;
    const upload = await this.multipart(state);
    const { start, end } = partRange(part, length);
    const bytes = assembleRange(start, end, sealer.header, (k) => this.store.sealedChunk(k));
    const uploaded = await upload.uploadPart(part, bytes);
    this.store.commitPart(part, uploaded.etag, lastChunkBefore(end));
  }

  /** The whole object in storage: the last parts and completion, or one put for a call shorter than a part. */
  async storeObject(state: CallState): Promise<void> {
    const length = objectLength(state.sealedChunks, state.finalChunkSize! + TAG_SIZE);
    const key = objectKeyFor(state.recordingId);
    if (!state.uploadId && length <= PART_SIZE) {
      const sealer = (await this.keys.for(state)).chunks;
      await this.blobs.putBytes(key, assembleRange(0, length, sealer.header, (k) => this.store.sealedChunk(k)), 'application/octet-stream');
    } else {
      for (let part = this.store.parts().length + 1; (part - 1) * PART_SIZE < length; part++) await this.uploadPart(state, part, length);
      const upload = await this.multipart(state);
      try {
        await upload.complete(this.store.parts());
      } catch (error) {
        // Completed by an attempt whose answer was lost? Then the object is there, whole.
        const head = await this.blobs.head(key).catch(() => null);
        if (head?.size !== length) throw error;
      }
      await forgetUpload(this.db, upload.uploadId);
      this.upload = undefined;
    }
    this.store.markObjectStored();
  }
}
