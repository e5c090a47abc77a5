/**
 * Azure Blob Storage through `@azure/storage-blob`, block blobs in one container.
 *
 * The SDK's browser build, which workerd loads, does not sign with account keys: every operation
 * gets its own service SAS (see azure-sas.ts), scoped to the one blob (the container for listing),
 * with only the permission it needs, valid for five minutes. Tiers are access tiers (hot = Hot,
 * cool = Cool, cold = Cold, archive = Archive); leaving Archive is a rehydration that Azure finishes
 * hours later (`pending: true`; `head` reports `restoring` until it is done, then the new tier).
 *
 * Multipart maps to staged blocks: Azure has no upload id, so ours is a random token (plus the
 * content type, which is only set at commit) and block ids are derived from it and the part number,
 * all the same length as Azure requires. Downloads bypass the SDK: its browser build buffers a body
 * into a Blob, so Get Blob is a plain streaming `fetch` of the SAS URL.
 */
import './xml-polyfill';
import { AnonymousCredential, BlockBlobClient, ContainerClient, newPipeline, type Pipeline, type RequestPolicyFactory, RestError } from '@azure/storage-blob';
import { ConfigError } from '../config';
import { type AzureConnection, CONTAINER_NAME_RULE, InvalidConnectionString, isValidContainerName, parseConnectionString } from '../azure-connection';
import { importAccountKey, SAS_VERSION, signServiceSas } from './azure-sas';
import type { BlobHead, BlobObject, BlobStore, ByteRange, MultipartUpload, StorageTier, TierChange, UploadedPart } from './blob-store';
import { StorageUnavailable, roundTripProbe } from './blob-store';
import { base64UrlToBytes, bytesToBase64, bytesToBase64Url, bytesToHex } from '../encoding';

export interface AzureBlobStoreOptions {
  connectionString: string;
  container: string;
  /** Per attempt, from sending the request (a whole part, for uploads) to its response headers. Default 15 s. */
  requestTimeoutMs?: number;
  /** Attempts per operation, including the first. Default 3. */
  maxAttempts?: number;
  /** Keys per `list` page, at most 5000; default 1000. */
  listPageSize?: number;
}

const SAS_LIFETIME_MS = 5 * 60_000;
/** Azure's limit on blocks in one blob. */
const MAX_BLOCKS = 50_000;
const TOKEN_PATTERN = /^[0-9a-f]{16}$/;

const TIER_TO_AZURE = { hot: 'Hot', cool: 'Cool', cold: 'Cold', archive: 'Archive' } as const;
const AZURE_TO_TIER: Record<string, StorageTier> = { hot: 'hot', cool: 'cool', cold: 'cold', archive: 'archive' };

/**
 * Bounds every attempt on our side. The SDK's `tryTimeoutInMs` only asks the server to give up (a
 * `timeout` query parameter), which does nothing against a server that never answers; a request's
 * `timeout` makes the fetch client abort it; each attempt gets the full time. An attempt aborted
 * this way is final (the SDK does not retry aborts), so a hung server costs one timeout, not several.
 */
function attemptTimeout(timeoutMs: number): RequestPolicyFactory {
  return {
    create: (next) => ({
      sendRequest: (request) => {
        request.timeout = timeoutMs;
        return next.sendRequest(request);
      },
    }),
  };
}

function isUnavailable(error: unknown): boolean {
  if (error instanceof RestError) {
    const status = error.statusCode;
    // No status: the request never got an answer (connection refused, reset, timed out).
    return status === undefined || status >= 500 || status === 429 || status === 408;
  }
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof StorageUnavailable) throw error;
    const status = error instanceof RestError ? error.statusCode : undefined;
    if (isUnavailable(error)) throw new StorageUnavailable(`Azure ${what} failed${status ? ` (HTTP ${status})` : ''}`, { cause: error });
    if (error instanceof RestError) throw new Error(`Azure ${what} failed: ${error.code ?? 'error'} (HTTP ${status})`, { cause: error });
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof RestError && error.statusCode === 404;
}

function toBase64Url(text: string): string {
  return bytesToBase64Url(new TextEncoder().encode(text));
}

function fromBase64Url(text: string): string {
  return new TextDecoder().decode(base64UrlToBytes(text));
}

/** Fixed length: 16-hex token, ':', 5-digit part number → 22 bytes → 32 base64 characters. */
function blockId(token: string, partNumber: number): string {
  return bytesToBase64(new TextEncoder().encode(`${token}:${String(partNumber).padStart(5, '0')}`));
}

export class AzureBlobStore implements BlobStore {
  readonly provider = 'azure' as const;
  private readonly connection: AzureConnection;
  private readonly container: string;
  private readonly pipeline: Pipeline;
  private readonly requestTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly listPageSize: number;
  private signingKey?: Promise<CryptoKey>;

  /**
   * Throws ConfigError for a malformed connection string or container name (parseConfig already
   * refuses both; this covers a store built directly).
   */
  constructor(options: AzureBlobStoreOptions) {
    try {
      this.connection = parseConnectionString(options.connectionString);
    } catch (error) {
      if (error instanceof InvalidConnectionString) throw new ConfigError('AZURE_STORAGE_CONNECTION_STRING', error.reason);
      throw error;
    }
    if (!isValidContainerName(options.container)) throw new ConfigError('AZURE_CONTAINER_NAME', CONTAINER_NAME_RULE);
    this.container = options.container;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.listPageSize = Math.min(5000, options.listPageSize ?? 1000);
    this.pipeline = newPipeline(new AnonymousCredential(), {
      retryOptions: { maxTries: this.maxAttempts, tryTimeoutInMs: this.requestTimeoutMs, retryDelayInMs: 200, maxRetryDelayInMs: 2_000 },
    });
    // Extra request policies are taken from `factories` when the first client builds the pipeline.
    this.pipeline.factories.push(attemptTimeout(this.requestTimeoutMs));
  }

  putBytes(key: string, data: Uint8Array, contentType?: string): Promise<void> {
    return guard('Put Blob', async () => {
      const blob = await this.blockBlob(key, 'w');
      await blob.upload(data, data.byteLength, { blobHTTPHeaders: { blobContentType: contentType } });
    });
  }

  async createMultipart(key: string, contentType?: string): Promise<MultipartUpload> {
    const token = bytesToHex(crypto.getRandomValues(new Uint8Array(8)));
    return this.resumeMultipart(key, contentType ? `${token}.${toBase64Url(contentType)}` : token);
  }

  resumeMultipart(key: string, uploadId: string): MultipartUpload {
    const [token = '', encodedType] = uploadId.split('.');
    if (!TOKEN_PATTERN.test(token)) throw new Error('not an Azure upload id');
    const contentType = encodedType ? fromBase64Url(encodedType) : undefined;
    return {
      key,
      uploadId,
      uploadPart: (partNumber: number, data: Uint8Array): Promise<UploadedPart> =>
        guard('Put Block', async () => {
          if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_BLOCKS) throw new RangeError(`part number must be 1-${MAX_BLOCKS}`);
          const id = blockId(token, partNumber);
          await (await this.blockBlob(key, 'w')).stageBlock(id, data, data.byteLength);
          return { partNumber, etag: id };
        }),
      complete: (parts: UploadedPart[]): Promise<void> =>
        guard('Put Block List', async () => {
          const ids = [...parts].sort((a, b) => a.partNumber - b.partNumber).map((part) => {
            if (part.etag !== blockId(token, part.partNumber)) throw new Error(`part ${part.partNumber} does not belong to upload ${uploadId}`);
            return part.etag;
          });
          await (await this.blockBlob(key, 'w')).commitBlockList(ids, { blobHTTPHeaders: { blobContentType: contentType } });
        }),
      abort: () => guard('abort upload', () => this.discardUncommitted(key)),
    };
  }

  get(key: string, range?: ByteRange): Promise<BlobObject | null> {
    return guard('Get Blob', async () => {
      if (range && (range.offset < 0 || range.length < 1)) throw new RangeError('a range needs offset >= 0 and length >= 1');
      const url = await this.blobUrl(key, 'r');
      const headers: Record<string, string> = { 'x-ms-version': SAS_VERSION };
      if (range) headers['x-ms-range'] = `bytes=${range.offset}-${range.offset + range.length - 1}`;
      const response = await this.fetchWithRetry(url, headers);
      if (response.status === 404) {
        await response.body?.cancel();
        return null;
      }
      if (response.status !== 200 && response.status !== 206) {
        const code = response.headers.get('x-ms-error-code') ?? 'error';
        await response.body?.cancel();
        if (response.status >= 500 || response.status === 429) throw new StorageUnavailable(`Azure Get Blob failed (HTTP ${response.status} ${code})`);
        throw new Error(`Azure Get Blob failed: ${code} (HTTP ${response.status})`);
      }
      const contentRange = response.headers.get('content-range');
      const size = Number(contentRange ? contentRange.split('/')[1] : response.headers.get('content-length'));
      if (!response.body || !Number.isFinite(size)) throw new Error('Azure Get Blob answered without a body or size');
      return { body: response.body, size };
    });
  }

  head(key: string): Promise<BlobHead | null> {
    return guard('Get Blob Properties', async () => {
      try {
        const properties = await (await this.blockBlob(key, 'r')).getProperties();
        return {
          size: properties.contentLength ?? 0,
          tier: AZURE_TO_TIER[(properties.accessTier ?? 'hot').toLowerCase()] ?? 'hot',
          restoring: properties.archiveStatus?.startsWith('rehydrate-pending') ?? false,
        };
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    });
  }

  delete(key: string): Promise<void> {
    return guard('Delete Blob', async () => {
      await (await this.blockBlob(key, 'd')).deleteIfExists({ deleteSnapshots: 'include' });
    });
  }

  list(prefix: string, cursor?: string): Promise<{ keys: string[]; cursor?: string }> {
    return guard('List Blobs', async () => {
      const sas = await this.sas('l');
      const container = new ContainerClient(`${this.containerUrl()}?${sas}`, this.pipeline);
      const pages = container.listBlobsFlat({ prefix }).byPage({ continuationToken: cursor, maxPageSize: this.listPageSize });
      const first = await pages.next();
      if (first.done) return { keys: [] };
      const page = first.value;
      return { keys: page.segment.blobItems.map((item) => item.name), cursor: page.continuationToken || undefined };
    });
  }

  /**
   * Set Blob Tier. Out of Archive Azure answers 202 and rehydrates in the background (Standard
   * priority, up to 15 hours): `pending: true`. Asking again while it rehydrates is also pending.
   */
  setTier(key: string, tier: StorageTier): Promise<TierChange> {
    return guard('Set Blob Tier', async () => {
      const blob = await this.blockBlob(key, 'w');
      try {
        const response = await blob.setAccessTier(TIER_TO_AZURE[tier], { rehydratePriority: 'Standard' });
        return { pending: response._response.status === 202 };
      } catch (error) {
        if (error instanceof RestError && error.code === 'BlobBeingRehydrated') return { pending: true };
        if (isNotFound(error)) throw new Error(`Azure Set Blob Tier: no blob at ${key}`, { cause: error });
        throw error;
      }
    });
  }

  selfTest(): Promise<void> {
    return roundTripProbe(this, 'Azure');
  }

  /**
   * Uncommitted blocks cannot be deleted one by one. When no committed blob exists, commit an
   * empty block list (only if still absent) and delete the result: that drops every uncommitted
   * block now. When a committed blob exists, its content must stay: the blocks are left to Azure,
   * which discards them at that blob's next commit or after seven days.
   */
  private async discardUncommitted(key: string): Promise<void> {
    const writer = await this.blockBlob(key, 'w');
    let etag: string | undefined;
    try {
      etag = (await writer.commitBlockList([], { conditions: { ifNoneMatch: '*' } })).etag;
    } catch (error) {
      if (error instanceof RestError && (error.statusCode === 409 || error.statusCode === 412)) return;
      throw error;
    }
    await (await this.blockBlob(key, 'd')).deleteIfExists({ conditions: { ifMatch: etag } });
  }

  private containerUrl(): string {
    return `${this.connection.blobEndpoint}/${this.container}`;
  }

  private async sas(permissions: string, blob?: string): Promise<string> {
    this.signingKey ??= importAccountKey(this.connection.accountKey);
    return signServiceSas(await this.signingKey, {
      accountName: this.connection.accountName,
      container: this.container,
      blob,
      permissions,
      // No start time: valid from the moment Azure receives it, so clock skew cannot reject it.
      expiresOn: new Date(Date.now() + SAS_LIFETIME_MS),
      protocol: this.connection.blobEndpoint.startsWith('https:') ? 'https' : 'https,http',
    });
  }

  private async blobUrl(key: string, permissions: string): Promise<string> {
    return `${this.containerUrl()}/${key.split('/').map(encodeURIComponent).join('/')}?${await this.sas(permissions, key)}`;
  }

  private async blockBlob(key: string, permissions: string): Promise<BlockBlobClient> {
    return new BlockBlobClient(await this.blobUrl(key, permissions), this.pipeline);
  }

  /** GET with the same timeout and attempts as the SDK; the timeout covers the headers, not the body. */
  private async fetchWithRetry(url: string, headers: Record<string, string>): Promise<Response> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new DOMException('Azure did not answer in time', 'TimeoutError')), this.requestTimeoutMs);
      try {
        const response = await fetch(url, { headers, signal: controller.signal });
        if (response.status < 500 || attempt === this.maxAttempts) return response;
        await response.body?.cancel();
        lastError = new StorageUnavailable(`Azure Get Blob answered HTTP ${response.status}`);
      } catch (error) {
        lastError = error;
      } finally {
        clearTimeout(timer);
      }
      if (attempt < this.maxAttempts) await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 200 * 2 ** (attempt - 1))));
    }
    throw new StorageUnavailable('Azure Get Blob failed', { cause: lastError });
  }
}
