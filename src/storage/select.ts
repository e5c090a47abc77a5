/**
 * Picks the BlobStore for STORAGE_PROVIDER. The S3 and Azure adapters are imported only when their
 * provider is chosen, with a dynamic `import()`: an R2 deployment never evaluates either SDK nor the
 * XML polyfill that puts `document` and `DOMParser` on `globalThis` (wrangler's bundler keeps the
 * code in the bundle but defers running it until the first `import()`). They are built once per
 * parsed configuration, so their SDK clients and imported signing key are reused across requests.
 */
import { type Config, ConfigError } from '../config';
import type { BlobStore, MultipartUpload } from './blob-store';
import { R2BlobStore } from './r2';

type RemoteProvider = 's3' | 'azure';

const remoteStores = new WeakMap<Config, BlobStore>();

/** parseConfig already refuses a missing variable for the chosen provider; this narrows the type. */
function required(config: Config, name: keyof Config & `${'AWS' | 'AZURE'}_${string}`): string {
  const value = config[name];
  if (typeof value !== 'string' || value === '') throw new ConfigError(name, `is required when STORAGE_PROVIDER is ${config.STORAGE_PROVIDER}`);
  return value;
}

async function loadRemoteStore(provider: RemoteProvider, config: Config): Promise<BlobStore> {
  if (provider === 's3') {
    const { S3BlobStore } = await import('./s3');
    return new S3BlobStore({
      region: required(config, 'AWS_REGION'),
      bucket: required(config, 'AWS_BUCKET_NAME'),
      accessKeyId: required(config, 'AWS_ACCESS_KEY_ID'),
      secretAccessKey: required(config, 'AWS_SECRET_ACCESS_KEY'),
      endpoint: config.AWS_ENDPOINT,
    });
  }
  const { AzureBlobStore } = await import('./azure');
  return new AzureBlobStore({ connectionString: required(config, 'AZURE_STORAGE_CONNECTION_STRING'), container: required(config, 'AZURE_CONTAINER_NAME') });
}

/**
 * A BlobStore that loads its adapter on first use and forwards every call to it. `createBlobStore`
 * stays synchronous for its callers (routes, the queue consumer, the Durable Object); only
 * `resumeMultipart`, synchronous in the interface, needs an upload handle that defers in turn.
 */
function deferredStore(provider: RemoteProvider, load: () => Promise<BlobStore>): BlobStore {
  let loaded: Promise<BlobStore> | undefined;
  const store = () => (loaded ??= load());
  return {
    provider,
    putBytes: async (key, data, contentType) => (await store()).putBytes(key, data, contentType),
    createMultipart: async (key, contentType) => (await store()).createMultipart(key, contentType),
    resumeMultipart(key: string, uploadId: string): MultipartUpload {
      const upload = store().then((s) => s.resumeMultipart(key, uploadId));
      // An unused handle must not turn a failed load into an unhandled rejection.
      upload.catch(() => undefined);
      return {
        key,
        uploadId,
        uploadPart: async (partNumber, data) => (await upload).uploadPart(partNumber, data),
        complete: async (parts) => (await upload).complete(parts),
        abort: async () => (await upload).abort(),
      };
    },
    get: async (key, range) => (await store()).get(key, range),
    head: async (key) => (await store()).head(key),
    delete: async (key) => (await store()).delete(key),
    list: async (prefix, cursor) => (await store()).list(prefix, cursor),
    setTier: async (key, tier) => (await store()).setTier(key, tier),
    selfTest: async () => (await store()).selfTest(),
  };
}

/** The store for `config.STORAGE_PROVIDER`: R2 through the binding, S3 or Azure loaded on first use. */
export function createBlobStore(env: { RECORDINGS: R2Bucket }, config: Config): BlobStore {
  switch (config.STORAGE_PROVIDER) {
    case 'r2':
      return new R2BlobStore(env.RECORDINGS);
    case 's3':
    case 'azure': {
      let store = remoteStores.get(config);
      if (!store) {
        const provider = config.STORAGE_PROVIDER;
        store = deferredStore(provider, () => loadRemoteStore(provider, config));
        remoteStores.set(config, store);
      }
      return store;
    }
  }
}
