/**
 * Picks the BlobStore for STORAGE_PROVIDER. The S3 and Azure stores are built once per parsed
 * configuration (their SDK clients and imported signing key are reused across requests).
 */
import { type Config, ConfigError } from '../config';
import { AzureBlobStore } from './azure';
import type { BlobStore } from './blob-store';
import { R2BlobStore } from './r2';
import { S3BlobStore } from './s3';

const remoteStores = new WeakMap<Config, BlobStore>();

/** parseConfig already refuses a missing variable for the chosen provider; this narrows the type. */
function required(config: Config, name: keyof Config & `${'AWS' | 'AZURE'}_${string}`): string {
  const value = config[name];
  if (typeof value !== 'string' || value === '') throw new ConfigError(name, `is required when STORAGE_PROVIDER is ${config.STORAGE_PROVIDER}`);
  return value;
}

function createRemoteStore(config: Config): BlobStore {
  if (config.STORAGE_PROVIDER === 's3') {
    return new S3BlobStore({
      region: required(config, 'AWS_REGION'),
      bucket: required(config, 'AWS_BUCKET_NAME'),
      accessKeyId: required(config, 'AWS_ACCESS_KEY_ID'),
      secretAccessKey: required(config, 'AWS_SECRET_ACCESS_KEY'),
      endpoint: config.AWS_ENDPOINT,
    });
  }
  return new AzureBlobStore({ connectionString: required(config, 'AZURE_STORAGE_CONNECTION_STRING'), container: required(config, 'AZURE_CONTAINER_NAME') });
}

export function createBlobStore(env: { RECORDINGS: R2Bucket }, config: Config): BlobStore {
  switch (config.STORAGE_PROVIDER) {
    case 'r2':
      return new R2BlobStore(env.RECORDINGS);
    case 's3':
    case 'azure': {
      let store = remoteStores.get(config);
      if (!store) {
        store = createRemoteStore(config);
        remoteStores.set(config, store);
      }
      return store;
    }
  }
}
