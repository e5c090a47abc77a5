/** Picks the BlobStore for STORAGE_PROVIDER. The S3 and Azure adapters plug in here. */
import type { Config } from '../config';
import type { BlobStore } from './blob-store';
import { R2BlobStore } from './r2';

export function createBlobStore(env: { RECORDINGS: R2Bucket }, config: Config): BlobStore {
  switch (config.STORAGE_PROVIDER) {
    case 'r2':
      return new R2BlobStore(env.RECORDINGS);
    default:
      throw new Error(`storage provider ${config.STORAGE_PROVIDER} is not available in this build`);
  }
}
