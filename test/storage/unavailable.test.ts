/**
 * A provider that is down, stops mid-upload or hangs makes every S3 and Azure operation fail with
 * StorageUnavailable (what the API turns into 503 and /health into "degraded"), quickly: the
 * adapters bound each attempt and the number of attempts.
 */
import { describe, expect, inject, it } from 'vitest';
import { AzureBlobStore } from '../../src/storage/azure';
import { type BlobStore, StorageUnavailable } from '../../src/storage/blob-store';
import { S3BlobStore } from '../../src/storage/s3';
import { PART_SIZE, randomBytes } from './bytes';

const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

function s3At(endpoint: string, options: { requestTimeoutMs?: number; maxAttempts?: number } = {}): S3BlobStore {
  return new S3BlobStore({ ...inject('s3'), endpoint, ...options });
}

function azureAt(endpoint: string, options: { requestTimeoutMs?: number; maxAttempts?: number } = {}): AzureBlobStore {
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_KEY};BlobEndpoint=${endpoint}/devstoreaccount1`;
  return new AzureBlobStore({ connectionString, container: 'recordings', ...options });
}

/** Runs `operation`, expects StorageUnavailable, and returns how long the failure took. */
async function failureTime(operation: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  const error = await operation().then(
    () => new Error('expected the operation to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageUnavailable);
  return Date.now() - started;
}

function everyOperation(store: BlobStore): Record<string, () => Promise<unknown>> {
  return {
    putBytes: () => store.putBytes('down/a', new Uint8Array([1])),
    get: () => store.get('down/a'),
    'ranged get': () => store.get('down/a', { offset: 0, length: 1 }),
    head: () => store.head('down/a'),
    delete: () => store.delete('down/a'),
    list: () => store.list('down/'),
    setTier: () => store.setTier('down/a', 'cool'),
    uploadPart: async () => (await store.createMultipart('down/b')).uploadPart(1, new Uint8Array(10)),
    selfTest: () => store.selfTest(),
  };
}

describe.each([
  ['S3', s3At],
  ['Azure', azureAt],
])('%s adapter when the provider is unreachable', (_name, storeAt) => {
  it('every operation fails with StorageUnavailable within seconds, with the production retry settings', async () => {
    const store = storeAt(inject('closedEndpoint'));
    for (const [operation, run] of Object.entries(everyOperation(store))) {
      expect(await failureTime(run), operation).toBeLessThan(5_000);
    }
  });

  it('a provider that accepts connections but never answers fails with StorageUnavailable after the request timeout', async () => {
    const store = storeAt(inject('blackholeEndpoint'), { requestTimeoutMs: 1_000, maxAttempts: 2 });
    const elapsed = await failureTime(() => store.head('hung/a'));
    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    expect(elapsed).toBeLessThan(10_000);
  });
});

describe('when the emulator is stopped in the middle of an upload', () => {
  const { s3, azure, controlEndpoint } = inject('disposable');
  const stores: [string, () => BlobStore][] = [
    ['s3', () => new S3BlobStore(s3)],
    ['azure', () => new AzureBlobStore(azure)],
  ];

  for (const [name, createStore] of stores) {
    it(`${name}: the next part and every later operation fail with StorageUnavailable`, async () => {
      const store = createStore();
      const upload = await store.createMultipart('mid/recording.webm', 'audio/webm');
      await upload.uploadPart(1, randomBytes(PART_SIZE));
      const stopped = await fetch(`${controlEndpoint}/stop/${name}`, { method: 'POST' });
      expect(stopped.status).toBe(204);
      expect(await failureTime(() => upload.uploadPart(2, randomBytes(1024)))).toBeLessThan(10_000);
      expect(await failureTime(() => store.head('mid/recording.webm'))).toBeLessThan(10_000);
      expect(await failureTime(() => store.selfTest())).toBeLessThan(10_000);
    });
  }
});
