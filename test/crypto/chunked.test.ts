import { describe, expect, it } from 'vitest';
import vectors from '../vectors/wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json';
import {
  CHUNK_SIZE,
  ChunkOpener,
  ChunkSealer,
  HEADER_SIZE,
  IntegrityError,
  SEALED_CHUNK_SIZE,
  chunkSpan,
  ciphertextSize,
  createOpenStream,
  createSealStream,
  plaintextSize,
} from '../../src/crypto/chunked';
import { bytesToHex, concatBytes, hexToBytes } from '../../src/encoding';

interface ChunkedVector {
  tcId: number;
  comment: string;
  key: string;
  ctx: string;
  ct: string;
  msgLength?: number;
  msgSha512?: string;
  result: 'valid' | 'invalid';
  flags: string[];
}

const encoder = new TextEncoder();

/** Small deterministic PRNG so that a failing split can be replayed. */
function random(seed: number) {
  return (max: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % max) | 0;
  };
}

function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(size, at + 65536)));
  return out;
}

/** A stream of `bytes` cut into pieces of random sizes (1 byte to ~2.5 chunks). */
function pieces(bytes: Uint8Array, seed = 1): ReadableStream<Uint8Array> {
  const next = random(seed);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const size = next(4) === 0 ? 1 + next(20) : 1 + next(40000);
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Reads until the stream errors: what it emitted before, and the error. */
async function collectUntilError(stream: ReadableStream<Uint8Array>): Promise<{ emitted: Uint8Array; error: unknown }> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { emitted: concat(parts), error: undefined };
      parts.push(value);
    }
  } catch (error) {
    return { emitted: concat(parts), error };
  }
}

const concat = concatBytes;

async function seal(dataKey: Uint8Array, context: string, plaintext: Uint8Array, salt?: Uint8Array, seed = 1): Promise<Uint8Array> {
  const sealer = await ChunkSealer.create(dataKey, encoder.encode(context), salt);
  return collect(pieces(plaintext, seed).pipeThrough(createSealStream(sealer)));
}

/** Whole-object decryption the way the service does it: commitment, size, then every chunk. */
async function openAll(dataKey: Uint8Array, context: Uint8Array, ciphertext: Uint8Array, seed = 7): Promise<Uint8Array> {
  const opener = await ChunkOpener.create(dataKey, context, ciphertext.subarray(0, HEADER_SIZE));
  const finalChunk = Math.floor(plaintextSize(ciphertext.length) / CHUNK_SIZE);
  return collect(pieces(ciphertext.subarray(HEADER_SIZE), seed).pipeThrough(createOpenStream(opener, 0, finalChunk, finalChunk)));
}

async function inflate(hex: string): Promise<Uint8Array> {
  return collect(new Blob([hexToBytes(hex)]).stream().pipeThrough(new DecompressionStream('deflate')));
}

const sha512Hex = async (bytes: Uint8Array) => bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-512', bytes)));

const chunkedVectors = vectors.testGroups.flatMap((g) => g.tests) as ChunkedVector[];

describe('Cobblestone-256 against the Wycheproof vectors', () => {
  it('has all 35 vectors', () => expect(chunkedVectors).toHaveLength(35));

  it.each(chunkedVectors.map((t) => [t.tcId, t.comment, t] as const))('vector %i: %s', async (_id, _comment, t) => {
    const ct = await inflate(t.ct);
    const decrypted = openAll(hexToBytes(t.key), hexToBytes(t.ctx), ct);
    if (t.result === 'valid') {
      const message = await decrypted;
      expect(message.length).toBe(t.msgLength);
      expect(await sha512Hex(message)).toBe(t.msgSha512);
      return;
    }
    await expect(decrypted).rejects.toBeInstanceOf(IntegrityError);
  });

  it('streams at most the valid prefix of a partially valid message, then fails', async () => {
    for (const t of chunkedVectors.filter((v) => v.flags.includes('PartialPlaintext'))) {
      const ct = await inflate(t.ct);
      const opener = await ChunkOpener.create(hexToBytes(t.key), hexToBytes(t.ctx), ct.subarray(0, HEADER_SIZE));
      // Claim a final chunk far away so that the stream, not the size check, must find the fault.
      const { emitted, error } = await collectUntilError(pieces(ct.subarray(HEADER_SIZE)).pipeThrough(createOpenStream(opener, 0, 1000, 1000)));
      expect(error, `vector ${t.tcId}`).toBeInstanceOf(IntegrityError);
      expect(emitted.length).toBeLessThanOrEqual(t.msgLength!);
      if (emitted.length === t.msgLength) expect(await sha512Hex(emitted)).toBe(t.msgSha512);
    }
  });

  it('authenticates the length from the final chunk alone for every vector but ValidFinalChunk ones', async () => {
    for (const t of chunkedVectors.filter((v) => !v.flags.includes('HeaderFailure'))) {
      const ct = await inflate(t.ct);
      const opener = await ChunkOpener.create(hexToBytes(t.key), hexToBytes(t.ctx), ct.subarray(0, HEADER_SIZE));
      const finalChunk = Math.floor((ct.length - HEADER_SIZE) / SEALED_CHUNK_SIZE);
      const opened = opener.openChunk(finalChunk, ct.subarray(HEADER_SIZE + finalChunk * SEALED_CHUNK_SIZE), true);
      if (t.result === 'valid' || t.flags.includes('ValidFinalChunk')) await expect(opened, `vector ${t.tcId}`).resolves.toBeInstanceOf(Uint8Array);
      else await expect(opened, `vector ${t.tcId}`).rejects.toBeInstanceOf(IntegrityError);
    }
  });
});

describe('round trips', () => {
  const key = randomBytes(32);
  it.each([0, 1, 16383, 16384, 16385, 3 * 16384, 1024 * 1024 + 7])('%i bytes in random pieces', async (size) => {
    const plaintext = randomBytes(size);
    const ciphertext = await seal(key, 'rec_roundtrip', plaintext, undefined, size);
    expect(ciphertext.length).toBe(ciphertextSize(size));
    expect(plaintextSize(ciphertext.length)).toBe(size);
    expect(await openAll(key, encoder.encode('rec_roundtrip'), ciphertext, size + 1)).toEqual(plaintext);
  });

  it('is deterministic for the same key, salt and context, and differs with another salt', async () => {
    const plaintext = randomBytes(40000);
    const salt = randomBytes(24);
    const a = await seal(key, 'rec_same', plaintext, salt, 1);
    const b = await seal(key, 'rec_same', plaintext, salt, 2);
    expect(b).toEqual(a);
    expect(a.subarray(0, 24)).toEqual(salt);
    const c = await seal(key, 'rec_same', plaintext, randomBytes(24));
    expect(c.subarray(HEADER_SIZE)).not.toEqual(a.subarray(HEADER_SIZE));
  });

  it('refuses chunk sizes that would break the one valid chunking', async () => {
    const sealer = await ChunkSealer.create(key, encoder.encode('rec_sizes'));
    expect(() => sealer.sealChunk(0, new Uint8Array(CHUNK_SIZE), true)).toThrow(RangeError);
    expect(() => sealer.sealChunk(0, new Uint8Array(CHUNK_SIZE - 1), false)).toThrow(RangeError);
    expect(() => sealer.sealChunk(2 ** 38, new Uint8Array(0), true)).toThrow(RangeError);
  });
});

describe('tampering fails with an integrity error', () => {
  const key = randomBytes(32);
  const context = encoder.encode('rec_tamper');
  const plaintext = randomBytes(3 * CHUNK_SIZE + 500); // chunks 0..2 full, chunk 3 final (500 bytes)
  const sealedOnce = seal(key, 'rec_tamper', plaintext);
  const chunkAt = (k: number) => HEADER_SIZE + k * SEALED_CHUNK_SIZE;

  async function expectIntegrity(ciphertext: Uint8Array, reason?: string) {
    const error = await openAll(key, context, ciphertext).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(IntegrityError);
    if (reason) expect(error).toMatchObject({ code: 'integrity_error', reason });
  }

  it('reordered chunks', async () => {
    const ct = (await sealedOnce).slice();
    ct.set((await sealedOnce).subarray(chunkAt(1), chunkAt(2)), chunkAt(0));
    ct.set((await sealedOnce).subarray(chunkAt(0), chunkAt(1)), chunkAt(1));
    await expectIntegrity(ct, 'chunk');
  });

  it('a dropped chunk', async () => {
    const ct = await sealedOnce;
    await expectIntegrity(concat([ct.subarray(0, chunkAt(1)), ct.subarray(chunkAt(2))]), 'chunk');
  });

  it('truncation: the final chunk removed, so the last full chunk cannot pass as final', async () => {
    const ct = (await sealedOnce).subarray(0, chunkAt(3));
    await expectIntegrity(ct, 'truncated');
    const opener = await ChunkOpener.create(key, context, ct.subarray(0, HEADER_SIZE));
    await expect(opener.openChunk(2, ct.subarray(chunkAt(2)), true)).rejects.toMatchObject({ reason: 'truncated' });
    // A reader that knows the object's real final chunk notices the missing bytes too.
    const { error } = await collectUntilError(pieces(ct.subarray(HEADER_SIZE)).pipeThrough(createOpenStream(opener, 0, 3, 3)));
    expect(error).toMatchObject({ reason: 'truncated' });
  });

  it('truncation inside a chunk', async () => {
    await expectIntegrity((await sealedOnce).subarray(0, chunkAt(3) + 10));
    await expectIntegrity((await sealedOnce).subarray(0, HEADER_SIZE - 1), 'truncated');
  });

  it('extended or trailing data', async () => {
    const ct = await sealedOnce;
    await expectIntegrity(concat([ct, new Uint8Array([0])]));
    const sealer = await ChunkSealer.create(key, context, ct.subarray(0, 24));
    const extra = await sealer.sealChunk(4, new Uint8Array(10), true);
    await expectIntegrity(concat([ct, extra]));
    const opener = await ChunkOpener.create(key, context, ct.subarray(0, HEADER_SIZE));
    // Bytes glued to the short final chunk make it fail; enough of them to fill a chunk are trailing data.
    const glued = await collectUntilError(pieces(concat([ct.subarray(HEADER_SIZE), extra])).pipeThrough(createOpenStream(opener, 0, 3)));
    expect(glued.error).toMatchObject({ reason: 'chunk' });
    expect(glued.emitted.length).toBeLessThanOrEqual(3 * CHUNK_SIZE);
    const long = await collectUntilError(pieces(concat([ct.subarray(HEADER_SIZE), new Uint8Array(SEALED_CHUNK_SIZE)])).pipeThrough(createOpenStream(opener, 0, 3)));
    expect(long.error).toMatchObject({ reason: 'trailing' });
    expect(long.emitted.length).toBeLessThanOrEqual(3 * CHUNK_SIZE);
  });

  it('one flipped bit anywhere: salt, commitment, chunk body, tag, final chunk', async () => {
    const ct = await sealedOnce;
    for (const [at, reason] of [
      [3, 'commitment'],
      [30, 'commitment'],
      [chunkAt(1) + 100, 'chunk'],
      [chunkAt(2) - 1, 'chunk'],
      [ct.length - 1, 'chunk'],
      [chunkAt(3) + 2, 'chunk'],
    ] as const) {
      const flipped = ct.slice();
      flipped[at]! ^= 0x10;
      await expectIntegrity(flipped, reason);
    }
  });

  it('chunks swapped between two recordings under the same data key', async () => {
    const other = await seal(key, 'rec_other', plaintext);
    const ct = await sealedOnce;
    await expectIntegrity(concat([other.subarray(0, HEADER_SIZE), ct.subarray(HEADER_SIZE)]), 'commitment');
    await expectIntegrity(concat([ct.subarray(0, chunkAt(1)), other.subarray(chunkAt(1), chunkAt(2)), ct.subarray(chunkAt(2))]), 'chunk');
    await expect(openAll(key, encoder.encode('rec_other'), ct)).rejects.toMatchObject({ reason: 'commitment' });
  });

  it('the wrong data key fails at the commitment, before any chunk', async () => {
    await expect(openAll(randomBytes(32), context, await sealedOnce)).rejects.toMatchObject({ reason: 'commitment' });
  });
});

describe('chunkSpan', () => {
  const total = 3 * CHUNK_SIZE + 100;

  it('maps ranges at chunk boundaries', () => {
    expect(chunkSpan(0, 1, total)).toEqual({ firstChunk: 0, lastChunk: 0, ciphertextOffset: 56, ciphertextLength: 16400 });
    expect(chunkSpan(0, CHUNK_SIZE, total)).toEqual({ firstChunk: 0, lastChunk: 0, ciphertextOffset: 56, ciphertextLength: 16400 });
    expect(chunkSpan(CHUNK_SIZE - 1, 2, total)).toEqual({ firstChunk: 0, lastChunk: 1, ciphertextOffset: 56, ciphertextLength: 32800 });
    expect(chunkSpan(CHUNK_SIZE, CHUNK_SIZE, total)).toEqual({ firstChunk: 1, lastChunk: 1, ciphertextOffset: 56 + 16400, ciphertextLength: 16400 });
  });

  it('maps the last byte to the short final chunk, ending at the end of the object', () => {
    const span = chunkSpan(total - 1, 1, total);
    expect(span).toEqual({ firstChunk: 3, lastChunk: 3, ciphertextOffset: 56 + 3 * 16400, ciphertextLength: 116 });
    expect(span.ciphertextOffset + span.ciphertextLength).toBe(ciphertextSize(total));
    expect(chunkSpan(0, total, total).ciphertextLength).toBe(ciphertextSize(total) - HEADER_SIZE);
    // With a whole number of chunks the last byte is in a full chunk; the empty final chunk follows it.
    expect(chunkSpan(2 * CHUNK_SIZE - 1, 1, 2 * CHUNK_SIZE)).toMatchObject({ firstChunk: 1, lastChunk: 1, ciphertextLength: 16400 });
    expect(chunkSpan(0, 0, 0)).toEqual({ firstChunk: 0, lastChunk: 0, ciphertextOffset: 56, ciphertextLength: 16 });
  });

  it('rejects ranges outside the plaintext', () => {
    expect(() => chunkSpan(total, 1, total)).toThrow(RangeError);
    expect(() => chunkSpan(-1, 1, total)).toThrow(RangeError);
    expect(() => chunkSpan(0, total + 1, total)).toThrow(RangeError);
  });

  it('decrypts exactly the covering chunks for random ranges', async () => {
    const key = randomBytes(32);
    const plaintext = randomBytes(5 * CHUNK_SIZE + 1234);
    const ct = await seal(key, 'rec_ranges', plaintext);
    const opener = await ChunkOpener.create(key, encoder.encode('rec_ranges'), ct.subarray(0, HEADER_SIZE));
    const finalChunk = Math.floor(plaintext.length / CHUNK_SIZE);
    const next = random(42);
    for (let i = 0; i < 200; i++) {
      const offset = next(plaintext.length);
      const length = 1 + next(Math.min(plaintext.length - offset, 3 * CHUNK_SIZE));
      const span = chunkSpan(offset, length, plaintext.length);
      const stream = pieces(ct.subarray(span.ciphertextOffset, span.ciphertextOffset + span.ciphertextLength), i).pipeThrough(
        createOpenStream(opener, span.firstChunk, finalChunk, span.lastChunk),
      );
      const opened = await collect(stream);
      const start = offset - span.firstChunk * CHUNK_SIZE;
      expect(opened.subarray(start, start + length)).toEqual(plaintext.subarray(offset, offset + length));
    }
  });
});

describe('ciphertext sizes', () => {
  it('rejects sizes no message can have', () => {
    for (const size of [0, 55, 56, 71, HEADER_SIZE + SEALED_CHUNK_SIZE, HEADER_SIZE + SEALED_CHUNK_SIZE + 15]) {
      expect(() => plaintextSize(size), `size ${size}`).toThrow(IntegrityError);
    }
    expect(plaintextSize(72)).toBe(0);
    expect(plaintextSize(HEADER_SIZE + SEALED_CHUNK_SIZE + 16)).toBe(CHUNK_SIZE);
  });
});
