/**
 * The one storage interface. R2, S3 and Azure Blob each implement it; nothing outside storage/
 * knows which provider it runs on. Bodies are streams or bounded parts, never whole recordings.
 */
import type { StorageTier } from '../domain/recording';

export type { StorageTier };

export interface ByteRange {
  offset: number;
  length: number;
}

export interface BlobObject {
  body: ReadableStream<Uint8Array>;
  /** Size of the whole object, whatever range was asked for. */
  size: number;
}

export interface BlobHead {
  size: number;
  tier: StorageTier;
  /** True while an archived object is being restored (S3 Glacier, Azure rehydration). */
  restoring: boolean;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
}

/** An open multipart upload. Parts are numbered from 1; all but the last must be the same size. */
export interface MultipartUpload {
  readonly key: string;
  readonly uploadId: string;
  uploadPart(partNumber: number, data: Uint8Array): Promise<UploadedPart>;
  complete(parts: UploadedPart[]): Promise<void>;
  abort(): Promise<void>;
}

export interface TierChange {
  /** True when the provider finishes the change later (restore from archive): poll `head`. */
  pending: boolean;
}

export interface BlobStore {
  readonly provider: 'r2' | 's3' | 'azure';
  /** Whole small object (bounded by the caller: headers, test fixtures, tiny renditions). */
  putBytes(key: string, data: Uint8Array, contentType?: string): Promise<void>;
  /** Start a multipart upload; the caller streams parts into it (see `streamToMultipart`). */
  createMultipart(key: string, contentType?: string): Promise<MultipartUpload>;
  /** Reattach to an upload started earlier (a Durable Object after eviction). */
  resumeMultipart(key: string, uploadId: string): MultipartUpload;
  /** Object bytes, or just `range`; null when absent. */
  get(key: string, range?: ByteRange): Promise<BlobObject | null>;
  head(key: string): Promise<BlobHead | null>;
  /** Idempotent: deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  list(prefix: string, cursor?: string): Promise<{ keys: string[]; cursor?: string }>;
  /** Move the object to the provider's class for `tier` (see README for the mapping). */
  setTier(key: string, tier: StorageTier): Promise<TierChange>;
  /** Write, read back and delete a tiny object: what `/health` calls. */
  selfTest(): Promise<void>;
}

/** A storage operation failed for a reason outside our control (provider down, timeout). */
export class StorageUnavailable extends Error {
  override name = 'StorageUnavailable';
}

/** A byte range that starts past the end of the stored object (the object is shorter than expected). */
export class RangeOutsideObject extends Error {
  override name = 'RangeOutsideObject';
}

/**
 * What every provider's `selfTest` does: write a tiny random object, read it back, delete it.
 * A mismatch is reported as StorageUnavailable; the object is removed whatever happens.
 */
export async function roundTripProbe(store: Pick<BlobStore, 'putBytes' | 'get' | 'delete'>, provider: string): Promise<void> {
  const key = `_health/${crypto.randomUUID()}`;
  const probe = crypto.getRandomValues(new Uint8Array(16));
  await store.putBytes(key, probe);
  try {
    const back = await store.get(key);
    const bytes = back ? new Uint8Array(await new Response(back.body).arrayBuffer()) : null;
    if (!bytes || bytes.length !== probe.length || bytes.some((b, i) => b !== probe[i])) throw new StorageUnavailable(`${provider} health probe read back differs`);
  } finally {
    await store.delete(key);
  }
}
