/**
 * One contract for every BlobStore, run against R2 (the Miniflare binding), S3 (s3rver) and Azure
 * Blob (Azurite). Where an emulator cannot do what the real provider does (s3rver has no
 * RestoreObject or AbortMultipartUpload; Azurite rehydrates from Archive at once), the suite
 * asserts the documented behaviour of our adapter on that emulator instead.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import { AzureBlobStore } from '../../src/storage/azure';
import { type BlobStore, StorageUnavailable } from '../../src/storage/blob-store';
import { R2BlobStore } from '../../src/storage/r2';
import { S3BlobStore } from '../../src/storage/s3';
import { forEachLimited, MiB, PART_SIZE, pumpToMultipart, randomBytes, randomStream, readAll, sha256, streamDigest } from './bytes';

interface ProviderBehaviour {
  /** What leaving Archive does: done at once, pending (then done by the provider), or refused. */
  restore: 'immediate' | 'pending' | 'unsupported';
  /** Whether the provider implements aborting a multipart upload. */
  abortsUploads: boolean;
  /** Keys per `list` page: the listing test writes a few more than this. */
  listPageSize: number;
}

function describeBlobStoreContract(name: string, createStore: () => BlobStore, behaviour: ProviderBehaviour): void {
  describe(`BlobStore contract: ${name}`, () => {
    const store = createStore();
    const prefix = `contract/${crypto.randomUUID()}/`;

    async function expectContent(key: string, expected: Uint8Array | { sha256: string; size: number }) {
      const object = await store.get(key);
      expect(object).not.toBeNull();
      const wanted = expected instanceof Uint8Array ? { sha256: await sha256(expected), size: expected.byteLength } : expected;
      expect(object!.size).toBe(wanted.size);
      expect(await streamDigest(object!.body)).toEqual(wanted);
    }

    async function upload(key: string, bytes: Uint8Array) {
      const stream = new Blob([bytes]).stream();
      return pumpToMultipart(stream, await store.createMultipart(key, 'audio/webm'));
    }

    it('a small object written whole reads back byte-exact', async () => {
      const bytes = randomBytes(1234);
      await store.putBytes(`${prefix}small`, bytes, 'application/octet-stream');
      expect(await readAll((await store.get(`${prefix}small`))!.body)).toEqual(bytes);
      expect(await store.head(`${prefix}small`)).toEqual({ size: 1234, tier: 'hot', restoring: false });
    });

    it('an upload of exactly one part reads back byte-exact', async () => {
      const bytes = randomBytes(PART_SIZE);
      const sent = await upload(`${prefix}one-part`, bytes);
      expect(sent.parts).toHaveLength(1);
      await expectContent(`${prefix}one-part`, bytes);
    });

    it('an upload of many parts with a shorter last part reads back byte-exact', async () => {
      const bytes = randomBytes(3 * PART_SIZE + 12_345);
      const sent = await upload(`${prefix}many-parts`, bytes);
      expect(sent.parts).toHaveLength(4);
      await expectContent(`${prefix}many-parts`, bytes);
      expect((await store.head(`${prefix}many-parts`))?.size).toBe(bytes.byteLength);
    });

    it('a 100 MB stream fed part by part reads back byte-exact', { timeout: 120_000 }, async () => {
      const key = `${prefix}hundred-mb`;
      const sent = await pumpToMultipart(randomStream(100 * MiB), await store.createMultipart(key, 'audio/wav'));
      expect(sent.size).toBe(100 * MiB);
      expect(sent.parts).toHaveLength(20);
      await expectContent(key, { sha256: sent.sha256, size: sent.size });
      await store.delete(key);
    });

    it('an upload resumed from its id (after a Durable Object eviction) completes', async () => {
      const key = `${prefix}resumed`;
      const first = randomBytes(PART_SIZE);
      const second = randomBytes(777);
      const started = await store.createMultipart(key, 'audio/ogg');
      const part1 = await started.uploadPart(1, first);
      const resumed = store.resumeMultipart(key, started.uploadId);
      const part2 = await resumed.uploadPart(2, second);
      await resumed.complete([part1, part2]);
      const whole = new Uint8Array(first.byteLength + second.byteLength);
      whole.set(first);
      whole.set(second, first.byteLength);
      await expectContent(key, whole);
    });

    it('every range form returns exactly those bytes, and the whole object size', async () => {
      const key = `${prefix}ranges`;
      const bytes = randomBytes(PART_SIZE + 1000);
      await upload(key, bytes);
      const size = bytes.byteLength;
      const cases = [
        { offset: 100, length: 200 }, // in the middle
        { offset: PART_SIZE - 10, length: 20 }, // across the part boundary
        { offset: size - 65_536, length: 65_536 }, // the tail
        { offset: 0, length: 1 }, // the first byte
        { offset: size - 1, length: 1 }, // the last byte
        { offset: 0, length: size }, // all of it
      ];
      for (const range of cases) {
        const object = await store.get(key, range);
        expect(object, JSON.stringify(range)).not.toBeNull();
        expect(object!.size).toBe(size);
        const expected = bytes.subarray(range.offset, range.offset + range.length);
        expect(await streamDigest(object!.body), JSON.stringify(range)).toEqual({ sha256: await sha256(expected), size: expected.byteLength });
      }
    });

    it('get and head of a key that was never written answer null', async () => {
      expect(await store.get(`${prefix}never`)).toBeNull();
      expect(await store.get(`${prefix}never`, { offset: 0, length: 10 })).toBeNull();
      expect(await store.head(`${prefix}never`)).toBeNull();
    });

    it('after delete, get and head answer null; deleting again or an absent key succeeds', async () => {
      const key = `${prefix}deleted`;
      await store.putBytes(key, randomBytes(10));
      await store.delete(key);
      expect(await store.get(key)).toBeNull();
      expect(await store.head(key)).toBeNull();
      await store.delete(key);
      await store.delete(`${prefix}never-existed`);
    });

    it('an upload that fails mid-stream is aborted and leaves nothing behind', async () => {
      const key = `${prefix}aborted/recording`;
      const started = await store.createMultipart(key, 'audio/webm');
      const abortErrors: unknown[] = [];
      const failing = randomStream(3 * PART_SIZE, PART_SIZE + PART_SIZE / 2);
      await expect(pumpToMultipart(failing, started, { onAbortError: (e) => abortErrors.push(e) })).rejects.toThrow('client went away');
      if (behaviour.abortsUploads) {
        expect(abortErrors).toEqual([]);
        // The parts are gone: the upload can no longer be completed.
        await expect(started.complete([{ partNumber: 1, etag: 'x' }])).rejects.toThrow();
      } else {
        // s3rver answers 405 to AbortMultipartUpload; the adapter says so instead of pretending.
        expect(abortErrors).toHaveLength(1);
        expect(abortErrors[0]).not.toBeInstanceOf(StorageUnavailable);
        expect(String(abortErrors[0])).toMatch(/AbortMultipartUpload failed: MethodNotAllowed/);
      }
      expect(await store.head(key)).toBeNull();
      expect(await store.get(key)).toBeNull();
      expect((await store.list(`${prefix}aborted/`)).keys).toEqual([]);
    });

    it('tier changes show in head, keep the bytes, and repeating one is a no-op', async () => {
      const key = `${prefix}tiers`;
      const bytes = randomBytes(4096);
      await store.putBytes(key, bytes, 'audio/mpeg');
      for (const tier of ['cool', 'cold', 'archive'] as const) {
        expect(await store.setTier(key, tier)).toEqual({ pending: false });
        expect(await store.head(key)).toEqual({ size: 4096, tier, restoring: false });
        if (tier !== 'archive') await expectContent(key, bytes);
      }
      expect(await store.setTier(key, 'archive')).toEqual({ pending: false });
      expect((await store.head(key))?.tier).toBe('archive');
    });

    it(`leaving archive is ${behaviour.restore}`, async () => {
      const key = `${prefix}restore`;
      const bytes = randomBytes(2048);
      await store.putBytes(key, bytes);
      await store.setTier(key, 'archive');
      if (behaviour.restore === 'unsupported') {
        const error = await store.setTier(key, 'hot').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect(error).not.toBeInstanceOf(StorageUnavailable);
        expect(String(error)).toMatch(/does not implement RestoreObject/);
        expect(await store.head(key)).toEqual({ size: 2048, tier: 'archive', restoring: false });
        return;
      }
      expect(await store.setTier(key, 'hot')).toEqual({ pending: behaviour.restore === 'pending' });
      // Azurite finishes rehydration at once; real Azure reports archive + restoring for hours.
      expect(await store.head(key)).toEqual({ size: 2048, tier: 'hot', restoring: false });
      await expectContent(key, bytes);
    });

    it('listing by prefix pages through every key under it and nothing else', { timeout: 90_000 }, async () => {
      const listPrefix = `${prefix}list/`;
      const keys = Array.from({ length: behaviour.listPageSize + 3 }, (_, i) => `${listPrefix}${String(i).padStart(4, '0')}`);
      const outside = [`${prefix}list-sibling`, `${prefix}lis`];
      await forEachLimited([...keys, ...outside], 24, (key) => store.putBytes(key, new Uint8Array([1])));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list(listPrefix, cursor);
        seen.push(...page.keys);
        cursor = page.cursor;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(2);
      expect(seen.sort()).toEqual(keys);
    });

    it('concurrent writers to different keys each get their own bytes', async () => {
      const writers = Array.from({ length: 12 }, (_, i) => ({
        key: `${prefix}concurrent/${i}`,
        bytes: randomBytes(i % 3 === 0 ? PART_SIZE + 4096 : 10_000 + i),
        multipart: i % 3 === 0,
      }));
      await Promise.all(writers.map((w) => (w.multipart ? upload(w.key, w.bytes) : store.putBytes(w.key, w.bytes))));
      for (const w of writers) await expectContent(w.key, w.bytes);
      expect((await store.list(`${prefix}concurrent/`)).keys.sort()).toEqual(writers.map((w) => w.key).sort());
    });

    it('the health self-test passes and leaves nothing behind', async () => {
      await store.selfTest();
      expect((await store.list('_health/')).keys).toEqual([]);
    });
  });
}

// R2BlobStore pages by 1000; the S3 and Azure stores take a smaller page size to keep this quick.
describeBlobStoreContract('R2 (Miniflare)', () => new R2BlobStore(env.RECORDINGS), { restore: 'immediate', abortsUploads: true, listPageSize: 1000 });

describeBlobStoreContract('S3 (s3rver)', () => new S3BlobStore({ ...inject('s3'), listPageSize: 100 }), {
  restore: 'unsupported',
  abortsUploads: false,
  listPageSize: 100,
});

describeBlobStoreContract('Azure Blob (Azurite)', () => new AzureBlobStore({ ...inject('azure'), listPageSize: 100 }), {
  restore: 'pending',
  abortsUploads: true,
  listPageSize: 100,
});
