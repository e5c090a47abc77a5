/**
 * STORAGE_PROVIDER picks the adapter; the S3 and Azure adapters (and their SDKs and DOM polyfill)
 * are imported only when chosen and used, and built once per configuration. Each test file runs
 * in its own isolate, so the globals seen here are this file's alone; the tests run in order.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config';
import { createBlobStore } from '../../src/storage/select';

const base = { ENVIRONMENT: 'test' };
const scope = globalThis as Record<string, unknown>;
const polyfilled = () => ({ document: scope.document !== undefined, DOMParser: scope.DOMParser !== undefined });

function s3Config() {
  const s3 = inject('s3');
  return parseConfig({
    ...base,
    STORAGE_PROVIDER: 'aws',
    AWS_REGION: s3.region,
    AWS_BUCKET_NAME: s3.bucket,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_ENDPOINT: s3.endpoint,
  });
}

describe('createBlobStore', () => {
  it('gives R2 by default and for the local alias, without loading either SDK', async () => {
    const store = createBlobStore(env, parseConfig(base));
    expect(store.provider).toBe('r2');
    expect(createBlobStore(env, parseConfig({ ...base, STORAGE_PROVIDER: 'local' })).provider).toBe('r2');
    await store.selfTest();
    expect(polyfilled()).toEqual({ document: false, DOMParser: false });
  });

  it('loads the S3 adapter on first use only, then gives one store per configuration that reaches the endpoint', async () => {
    const config = s3Config();
    const store = createBlobStore(env, config);
    expect(store.provider).toBe('s3');
    expect(createBlobStore(env, config)).toBe(store);
    expect(polyfilled()).toEqual({ document: false, DOMParser: false });
    await store.selfTest();
    expect(polyfilled()).toEqual({ document: true, DOMParser: true });
  });

  it('resumes a multipart upload through the lazily loaded adapter', async () => {
    const store = createBlobStore(env, s3Config());
    const key = `select/${crypto.randomUUID()}`;
    const started = await store.createMultipart(key, 'audio/wav');
    const resumed = store.resumeMultipart(key, started.uploadId);
    const part = await resumed.uploadPart(1, new Uint8Array([1, 2, 3]));
    await resumed.complete([part]);
    expect((await store.head(key))?.size).toBe(3);
    await store.delete(key);
  });

  it('gives an Azure store that reaches the endpoint', async () => {
    const azure = inject('azure');
    const config = parseConfig({ ...base, STORAGE_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: azure.connectionString, AZURE_CONTAINER_NAME: azure.container });
    const store = createBlobStore(env, config);
    expect(store.provider).toBe('azure');
    await store.selfTest();
  });

  it('a malformed Azure connection string or container name never gets this far: parseConfig refuses it', () => {
    const settings = { ...base, STORAGE_PROVIDER: 'azure', AZURE_CONTAINER_NAME: 'recordings' };
    expect(() => parseConfig({ ...settings, AZURE_STORAGE_CONNECTION_STRING: 'AccountName=recorder' })).toThrow(ConfigError);
    expect(() => parseConfig({ ...settings, AZURE_STORAGE_CONNECTION_STRING: 'AccountName=recorder' })).toThrow(/AZURE_STORAGE_CONNECTION_STRING has no AccountKey/);
    expect(() => parseConfig({ ...settings, AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true', AZURE_CONTAINER_NAME: 'Bad_Name' })).toThrow(/AZURE_CONTAINER_NAME/);
  });
});
