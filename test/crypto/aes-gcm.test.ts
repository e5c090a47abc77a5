import { describe, expect, it } from 'vitest';
import vectors from '../vectors/wycheproof/aes_gcm_test.json';
import { IntegrityError, importAesKey, openAesGcm, sealAesGcm } from '../../src/crypto/aes-gcm';
import { hexToBytes } from '../../src/encoding';

interface AeadVector {
  tcId: number;
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

const groups = vectors.testGroups as { keySize: number; ivSize: number; tagSize: number; tests: AeadVector[] }[];
const ours = groups.filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128).flatMap((g) => g.tests);

describe('AES-256-GCM wrapper against Wycheproof', () => {
  it('covers the 66 vectors with 256-bit keys, 96-bit IVs and 128-bit tags', () => {
    expect(ours).toHaveLength(66);
  });

  it.each(ours.map((t) => [t.tcId, t] as const))('vector %i', async (_id, t) => {
    const key = await importAesKey(hexToBytes(t.key));
    const iv = hexToBytes(t.iv);
    const aad = hexToBytes(t.aad);
    const sealed = hexToBytes(t.ct + t.tag);
    if (t.result === 'valid') {
      expect(await sealAesGcm(key, iv, hexToBytes(t.msg), aad)).toEqual(sealed);
      expect(await openAesGcm(key, iv, sealed, aad)).toEqual(hexToBytes(t.msg));
    } else {
      await expect(openAesGcm(key, iv, sealed, aad)).rejects.toBeInstanceOf(IntegrityError);
    }
  });
});

describe('AES-256-GCM parameter rules', () => {
  it('rejects every IV that is not 12 bytes, including those of the other Wycheproof groups', async () => {
    const key = await importAesKey(new Uint8Array(32));
    const otherIvs = groups.filter((g) => g.keySize === 256 && g.ivSize !== 96).flatMap((g) => g.tests.map((t) => hexToBytes(t.iv)));
    expect(otherIvs.length).toBeGreaterThan(10);
    for (const iv of otherIvs) {
      await expect(sealAesGcm(key, iv, new Uint8Array(1))).rejects.toThrow(RangeError);
      await expect(openAesGcm(key, iv, new Uint8Array(32))).rejects.toThrow(RangeError);
    }
  });

  it('rejects raw keys that are not 32 bytes', () => {
    for (const size of [0, 16, 24, 31, 33, 64]) expect(() => importAesKey(new Uint8Array(size))).toThrow(RangeError);
  });

  it('binds the additional data: a different AAD fails as an integrity error', async () => {
    const key = await importAesKey(crypto.getRandomValues(new Uint8Array(32)));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await sealAesGcm(key, iv, new Uint8Array([1, 2, 3]), new Uint8Array([9]));
    await expect(openAesGcm(key, iv, sealed, new Uint8Array([8]))).rejects.toMatchObject({ code: 'integrity_error', reason: 'authentication' });
    await expect(openAesGcm(key, iv, sealed)).rejects.toBeInstanceOf(IntegrityError);
  });
});
