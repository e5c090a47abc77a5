/**
 * R2 through the Workers binding. R2 has two storage classes: Standard (hot) and
 * InfrequentAccess (cool, cold and archive all map to it; "archive" is enforced by the service,
 * which refuses audio reads while archived). Changing class rewrites the object as a stream.
 */
import type { BlobHead, BlobObject, BlobStore, ByteRange, MultipartUpload, StorageTier, TierChange, UploadedPart } from './blob-store';
import { RangeOutsideObject, StorageUnavailable, roundTripProbe } from './blob-store';

const TIER_META = 'tier';

function wrapMultipart(upload: R2MultipartUpload): MultipartUpload {
  return {
    key: upload.key,
    uploadId: upload.uploadId,
    async uploadPart(partNumber: number, data: Uint8Array): Promise<UploadedPart> {
      const part = await upload.uploadPart(partNumber, data);
      return { partNumber: part.partNumber, etag: part.etag };
    },
    async complete(parts: UploadedPart[]) {
      await upload.complete(parts);
    },
    async abort() {
      await upload.abort();
    },
  };
}

async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new StorageUnavailable(`R2 ${what} failed`, { cause: error });
  }
}

export class R2BlobStore implements BlobStore {
  readonly provider = 'r2' as const;
  constructor(private readonly bucket: R2Bucket) {}

  putBytes(key: string, data: Uint8Array, contentType?: string): Promise<void> {
    return guard('put', async () => {
      await this.bucket.put(key, data, { httpMetadata: contentType ? { contentType } : undefined, customMetadata: { [TIER_META]: 'hot' } });
    });
  }

  createMultipart(key: string, contentType?: string): Promise<MultipartUpload> {
    return guard('createMultipartUpload', async () =>
      wrapMultipart(
        await this.bucket.createMultipartUpload(key, { httpMetadata: contentType ? { contentType } : undefined, customMetadata: { [TIER_META]: 'hot' } }),
      ),
    );
  }

  resumeMultipart(key: string, uploadId: string): MultipartUpload {
    return wrapMultipart(this.bucket.resumeMultipartUpload(key, uploadId));
  }

  async get(key: string, range?: ByteRange): Promise<BlobObject | null> {
    try {
      const object = await this.bucket.get(key, range ? { range: { offset: range.offset, length: range.length } } : undefined);
      if (!object) return null;
      return { body: object.body, size: object.size };
    } catch (error) {
      // A range past the end fails in R2 (and in Miniflare with an unspecified error when it starts
      // exactly at the end): tell that apart from an outage by the object's real size.
      const head = range ? await this.bucket.head(key).catch(() => null) : null;
      if (head && range && head.size < range.offset + range.length) throw new RangeOutsideObject(`${key} is shorter than the range asked for`, { cause: error });
      throw new StorageUnavailable('R2 get failed', { cause: error });
    }
  }

  head(key: string): Promise<BlobHead | null> {
    return guard('head', async () => {
      const object = await this.bucket.head(key);
      if (!object) return null;
      const tier = (object.customMetadata?.[TIER_META] as StorageTier | undefined) ?? 'hot';
      return { size: object.size, tier, restoring: false };
    });
  }

  delete(key: string): Promise<void> {
    return guard('delete', () => this.bucket.delete(key));
  }

  list(prefix: string, cursor?: string): Promise<{ keys: string[]; cursor?: string }> {
    return guard('list', async () => {
      const page = await this.bucket.list({ prefix, cursor, limit: 1000 });
      return { keys: page.objects.map((o) => o.key), cursor: page.truncated ? page.cursor : undefined };
    });
  }

  /** Rewrites the object with the new class; R2 has no archive class, so restores are immediate. */
  setTier(key: string, tier: StorageTier): Promise<TierChange> {
    return guard('setTier', async () => {
      const object = await this.bucket.get(key);
      if (!object) throw new Error('object missing');
      const body = object.body.pipeThrough(new FixedLengthStream(object.size));
      await this.bucket.put(key, body, {
        httpMetadata: object.httpMetadata,
        customMetadata: { ...object.customMetadata, [TIER_META]: tier },
        storageClass: tier === 'hot' ? 'Standard' : 'InfrequentAccess',
      });
      return { pending: false };
    });
  }

  selfTest(): Promise<void> {
    return roundTripProbe(this, 'R2');
  }
}
