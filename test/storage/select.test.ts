/** STORAGE_PROVIDER picks the adapter; the S3 and Azure stores are built once per configuration. */
import { env } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config';
import { createBlobStore } from '../../src/storage/select';

const base = { ENVIRONMENT: 'test' };

describe('createBlobStore', () => {
  it('gives R2 by default and for the local alias', () => {
    expect(createBlobStore(env, parseConfig(base)).provider).toBe('r2');
    expect(createBlobStore(env, parseConfig({ ...base, STORAGE_PROVIDER: 'local' })).provider).toBe('r2');
  });

  it('gives one S3 store per configuration for s3 and its aws alias, and it reaches the endpoint', async () => {
    const s3 = inject('s3');
    const config = parseConfig({
      ...base,
      STORAGE_PROVIDER: 'aws',
      AWS_REGION: s3.region,
      AWS_BUCKET_NAME: s3.bucket,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_ENDPOINT: s3.endpoint,
    });
    const store = createBlobStore(env, config);
    expect(store.provider).toBe('s3');
    expect(createBlobStore(env, config)).toBe(store);
    await store.selfTest();
  });

  it('gives an Azure store that reaches the endpoint', async () => {
    const azure = inject('azure');
    const config = parseConfig({ ...base, STORAGE_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: azure.connectionString, AZURE_CONTAINER_NAME: azure.container });
    const store = createBlobStore(env, config);
    expect(store.provider).toBe('azure');
    await store.selfTest();
  });

  it('refuses a malformed Azure connection string or container name with a ConfigError naming the variable', () => {
    const bad = parseConfig({ ...base, STORAGE_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: 'AccountName=recorder', AZURE_CONTAINER_NAME: 'recordings' });
    expect(() => createBlobStore(env, bad)).toThrow(ConfigError);
    expect(() => createBlobStore(env, bad)).toThrow(/AZURE_STORAGE_CONNECTION_STRING has no AccountKey/);
    const badContainer = parseConfig({ ...base, STORAGE_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true', AZURE_CONTAINER_NAME: 'Bad_Name' });
    expect(() => createBlobStore(env, badContainer)).toThrow(/AZURE_CONTAINER_NAME/);
  });
});
