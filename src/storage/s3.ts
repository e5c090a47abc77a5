/**
 * Amazon S3 and S3-compatible servers (R2's S3 API, MinIO, s3rver) through `@aws-sdk/client-s3`.
 *
 * Tiers are storage classes: hot = STANDARD, cool = STANDARD_IA, cold = GLACIER_IR (readable at
 * once), archive = GLACIER (Flexible Retrieval: restores in hours, 90-day minimum; DEEP_ARCHIVE
 * would halve the price but restores take up to 48 h and the minimum is 180 days). A server that
 * answers InvalidStorageClass to GLACIER_IR or GLACIER (R2 and s3rver lack one or both) gets
 * STANDARD_IA instead; the tier asked for is kept in the object's `x-amz-meta-tier` so that `head`
 * still reports it. An object that is really in an archive class is restored the Glacier way:
 * RestoreObject (pending) and, once S3 reports the temporary copy ready, a copy onto itself in the
 * target class (call `setTier` again; it answers `pending: false` when done).
 *
 * Checksums are only sent when an operation requires them: several S3-compatible servers reject
 * the SDK's default CRC32 headers.
 */
import './xml-polyfill';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
  type StorageClass,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { BlobHead, BlobObject, BlobStore, ByteRange, MultipartUpload, StorageTier, TierChange, UploadedPart } from './blob-store';
import { StorageUnavailable, roundTripProbe } from './blob-store';

export interface S3BlobStoreOptions {
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** An S3-compatible endpoint; addressed path-style (`endpoint/bucket/key`). */
  endpoint?: string;
  /** Per attempt, until response headers arrive. Default 15 s. */
  requestTimeoutMs?: number;
  /** Attempts per operation, including the first. Default 3. */
  maxAttempts?: number;
  /** Keys per `list` page, at most 1000 (the default). */
  listPageSize?: number;
}

const TIER_META = 'tier';
const TIERS: readonly StorageTier[] = ['hot', 'cool', 'cold', 'archive'];
/** Preferred class first, then the fallback for servers that lack it. */
const TIER_CLASSES: Record<StorageTier, StorageClass[]> = {
  hot: ['STANDARD'],
  cool: ['STANDARD_IA'],
  cold: ['GLACIER_IR', 'STANDARD_IA'],
  archive: ['GLACIER', 'STANDARD_IA'],
};
const ARCHIVE_CLASSES = new Set<string>(['GLACIER', 'DEEP_ARCHIVE']);
/** Days the restored temporary copy of an archived object stays readable (we copy it out before). */
const RESTORE_DAYS = 2;

function classToTier(storageClass: string | undefined): StorageTier {
  switch (storageClass) {
    case 'STANDARD_IA':
    case 'ONEZONE_IA':
      return 'cool';
    case 'GLACIER_IR':
      return 'cold';
    case 'GLACIER':
    case 'DEEP_ARCHIVE':
      return 'archive';
    default:
      return 'hot';
  }
}

function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

function codeOf(error: unknown): string | undefined {
  return error instanceof S3ServiceException ? error.name : undefined;
}

/**
 * Provider down, slow or overloaded → StorageUnavailable. An error that went through the SDK's
 * retry loop (it carries `$metadata`) without an HTTP status never got an answer from S3: connection
 * refused or reset, or our request timeout. A refusal from S3 (4xx) keeps its own meaning.
 */
function isUnavailable(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  if (!(error instanceof Error)) return false;
  return error.name === 'TimeoutError' || (('$metadata' in error) && !(error instanceof S3ServiceException));
}

async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof StorageUnavailable) throw error;
    const status = statusOf(error);
    if (isUnavailable(error)) throw new StorageUnavailable(`S3 ${what} failed${status ? ` (HTTP ${status})` : ''}`, { cause: error });
    if (error instanceof S3ServiceException) throw new Error(`S3 ${what} failed: ${error.name} (HTTP ${status})`, { cause: error });
    throw error;
  }
}

/** Passes on `take` bytes after skipping `skip`, then stops reading. */
function sliceStream(skip: number, take: number): TransformStream<Uint8Array, Uint8Array> {
  let position = 0;
  return new TransformStream({
    transform(chunk, controller) {
      const start = Math.max(0, skip - position);
      const end = Math.min(chunk.byteLength, skip + take - position);
      position += chunk.byteLength;
      if (end > start) controller.enqueue(chunk.subarray(start, end));
      if (position >= skip + take) controller.terminate();
    },
  });
}

/** `restore` header: `ongoing-request="true"` while S3 is restoring, `"false"` once the copy is readable. */
function restoreState(head: HeadObjectCommandOutput): 'none' | 'ongoing' | 'done' {
  if (!head.Restore) return 'none';
  return /ongoing-request="true"/.test(head.Restore) ? 'ongoing' : 'done';
}

export class S3BlobStore implements BlobStore {
  readonly provider = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly listPageSize: number;
  /** Classes this server refused with InvalidStorageClass: the fallback is used from then on. */
  private readonly unsupportedClasses = new Set<StorageClass>();

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.listPageSize = Math.min(1000, options.listPageSize ?? 1000);
    this.client = new S3Client({
      region: options.region,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      endpoint: options.endpoint,
      forcePathStyle: options.endpoint !== undefined,
      maxAttempts: options.maxAttempts ?? 3,
      requestHandler: { requestTimeout: options.requestTimeoutMs ?? 15_000 },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  putBytes(key: string, data: Uint8Array, contentType?: string): Promise<void> {
    return guard('PutObject', async () => {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data, ContentLength: data.byteLength, ContentType: contentType, Metadata: { [TIER_META]: 'hot' } }),
      );
    });
  }

  createMultipart(key: string, contentType?: string): Promise<MultipartUpload> {
    return guard('CreateMultipartUpload', async () => {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: contentType, Metadata: { [TIER_META]: 'hot' } }),
      );
      if (!created.UploadId) throw new Error('S3 CreateMultipartUpload answered without an UploadId');
      return this.resumeMultipart(key, created.UploadId);
    });
  }

  resumeMultipart(key: string, uploadId: string): MultipartUpload {
    const { client, bucket } = this;
    return {
      key,
      uploadId,
      uploadPart(partNumber: number, data: Uint8Array): Promise<UploadedPart> {
        return guard('UploadPart', async () => {
          const part = await client.send(
            new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: data, ContentLength: data.byteLength }),
          );
          if (!part.ETag) throw new Error('S3 UploadPart answered without an ETag');
          return { partNumber, etag: part.ETag };
        });
      },
      complete(parts: UploadedPart[]): Promise<void> {
        const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
        return guard('CompleteMultipartUpload', async () => {
          await client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: { Parts: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
            }),
          );
        });
      },
      /** Frees the stored parts. An upload already gone (NoSuchUpload) counts as aborted. */
      abort(): Promise<void> {
        return guard('AbortMultipartUpload', async () => {
          try {
            await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
          } catch (error) {
            if (codeOf(error) !== 'NoSuchUpload') throw error;
          }
        });
      },
    };
  }

  get(key: string, range?: ByteRange): Promise<BlobObject | null> {
    return guard('GetObject', async () => {
      if (range && (range.offset < 0 || range.length < 1)) throw new RangeError('a range needs offset >= 0 and length >= 1');
      let object: GetObjectCommandOutput;
      try {
        object = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined }),
        );
      } catch (error) {
        if (statusOf(error) === 404) return null;
        throw error;
      }
      if (!object.Body) throw new Error('S3 GetObject answered without a body');
      const body = object.Body.transformToWebStream() as ReadableStream<Uint8Array>;
      const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(object.ContentRange ?? '');
      const size = served ? Number(served[3]) : object.ContentLength;
      if (size === undefined || !Number.isFinite(size)) throw new Error('S3 GetObject answered without the object size');
      if (!range) return { body, size };
      // Some S3-compatible servers answer a wider span than asked (s3rver 3.7.1 turns bytes=0-0
      // into the whole object): serve exactly the asked bytes out of any span that covers them.
      const first = served ? Number(served[1]) : 0;
      const last = served ? Number(served[2]) : size - 1;
      const wantedLast = Math.min(range.offset + range.length, size) - 1;
      if (first === range.offset && last === wantedLast) return { body, size };
      if (first > range.offset || last < wantedLast) {
        await body.cancel();
        throw new Error(`S3 GetObject served bytes ${first}-${last} for ${range.offset}-${wantedLast}`);
      }
      return { body: body.pipeThrough(sliceStream(range.offset - first, wantedLast - range.offset + 1)), size };
    });
  }

  head(key: string): Promise<BlobHead | null> {
    return guard('HeadObject', async () => {
      const head = await this.headObject(key);
      if (!head) return null;
      return { size: head.ContentLength ?? 0, tier: this.tierOf(head), restoring: restoreState(head) === 'ongoing' };
    });
  }

  delete(key: string): Promise<void> {
    return guard('DeleteObject', async () => {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    });
  }

  list(prefix: string, cursor?: string): Promise<{ keys: string[]; cursor?: string }> {
    return guard('ListObjectsV2', async () => {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: cursor, MaxKeys: this.listPageSize }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
      return { keys, cursor: page.IsTruncated ? page.NextContinuationToken : undefined };
    });
  }

  /**
   * Copies the object onto itself in the class for `tier` (at most 5 GB, CopyObject's limit). From
   * an archive class, first restores it: `pending: true` until S3 has made the temporary copy.
   */
  setTier(key: string, tier: StorageTier): Promise<TierChange> {
    return guard('setTier', async () => {
      const head = await this.headObject(key);
      if (!head) throw new Error(`S3 setTier: no object at ${key}`);
      const archived = ARCHIVE_CLASSES.has(head.StorageClass ?? '');
      if (archived && tier !== 'archive') {
        const state = restoreState(head);
        if (state === 'ongoing') return { pending: true };
        if (state === 'none') {
          await this.restore(key);
          return { pending: true };
        }
      } else if (this.tierOf(head) === tier) {
        return { pending: false };
      }
      await this.copyInClass(key, head, tier);
      return { pending: false };
    });
  }

  selfTest(): Promise<void> {
    return roundTripProbe(this, 'S3');
  }

  private async headObject(key: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw error;
    }
  }

  /** The class decides, except where the metadata names a tier this class stands in for. */
  private tierOf(head: HeadObjectCommandOutput): StorageTier {
    const recorded = head.Metadata?.[TIER_META] as StorageTier | undefined;
    const storageClass = (head.StorageClass ?? 'STANDARD') as StorageClass;
    if (recorded && TIERS.includes(recorded) && TIER_CLASSES[recorded].includes(storageClass)) return recorded;
    return classToTier(storageClass);
  }

  private async restore(key: string): Promise<void> {
    try {
      await this.client.send(
        new RestoreObjectCommand({ Bucket: this.bucket, Key: key, RestoreRequest: { Days: RESTORE_DAYS, GlacierJobParameters: { Tier: 'Standard' } } }),
      );
    } catch (error) {
      if (codeOf(error) === 'RestoreAlreadyInProgress') return;
      if (statusOf(error) === 501 || statusOf(error) === 405) {
        throw new Error(`S3 endpoint does not implement RestoreObject: ${key} stays archived`, { cause: error });
      }
      throw error;
    }
  }

  private async copyInClass(key: string, head: HeadObjectCommandOutput, tier: StorageTier): Promise<void> {
    const source = `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
    for (const storageClass of TIER_CLASSES[tier]) {
      if (this.unsupportedClasses.has(storageClass)) continue;
      try {
        await this.client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: key,
            CopySource: source,
            // Only the object we looked at: a copy must not revert a concurrent rewrite.
            CopySourceIfMatch: head.ETag,
            StorageClass: storageClass,
            // REPLACE (needed to change the metadata) drops whatever is not restated here.
            MetadataDirective: 'REPLACE',
            ContentType: head.ContentType,
            ContentDisposition: head.ContentDisposition,
            ContentEncoding: head.ContentEncoding,
            ContentLanguage: head.ContentLanguage,
            CacheControl: head.CacheControl,
            Metadata: { ...head.Metadata, [TIER_META]: tier },
          }),
        );
        return;
      } catch (error) {
        if (codeOf(error) !== 'InvalidStorageClass') throw error;
        this.unsupportedClasses.add(storageClass);
      }
    }
    throw new Error(`S3 endpoint accepts none of the storage classes for tier ${tier}`);
  }
}
