/**
 * C2SP chunked encryption with AES-256-GCM ("Cobblestone-256", c2sp.org/chunked-encryption): the
 * on-disk format of every recording. It gives streaming encryption in bounded memory and random
 * access: plaintext byte i lives in chunk ⌊i / 16384⌋, and chunk k starts at byte 56 + k × 16400.
 *
 * Object = salt (24) ‖ commitment (32) ‖ sealed chunk 0 ‖ … ‖ sealed final chunk, where
 *   key (32) ‖ base nonce (12) ‖ commitment (32) =
 *     HKDF-Expand-SHA-512(prk = data key, info = "c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM" ‖ 0x00 ‖ salt ‖ context)
 *   nonce(k) = base nonce XOR k (big-endian, 96 bits wide); AAD empty.
 * Every chunk holds exactly 16384 plaintext bytes except the final one, which is always shorter
 * (possibly empty): a short chunk *is* the end-of-message mark, so the nonce carries no final flag
 * and truncation or extension shows up as a wrong length or a failed tag. See docs/encryption.md.
 */
import { concatBytes } from '../encoding';
import { GCM_TAG_SIZE, IntegrityError, importAesKey, openAesGcm, sealAesGcm } from './aes-gcm';

export { IntegrityError } from './aes-gcm';

export const CHUNK_SIZE = 16384;
export const TAG_SIZE = GCM_TAG_SIZE;
export const SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE; // 16400
const SALT_SIZE = 24;
const COMMITMENT_SIZE = 32;
export const HEADER_SIZE = SALT_SIZE + COMMITMENT_SIZE; // 56
/** The spec's 38-bit chunk counter: 2³⁸ chunks (4 PiB) and no more. */
const MAX_CHUNKS = 2 ** 38;
const INFO_PREFIX = new TextEncoder().encode('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\u0000');

/** Bytes of the stored object for a plaintext of `plaintextSize` bytes. */
export function ciphertextSize(plaintextSize: number): number {
  if (!Number.isSafeInteger(plaintextSize) || plaintextSize < 0) throw new RangeError('plaintext size must be a non-negative integer');
  const fullChunks = Math.floor(plaintextSize / CHUNK_SIZE);
  return HEADER_SIZE + fullChunks * SEALED_CHUNK_SIZE + (plaintextSize % CHUNK_SIZE) + TAG_SIZE;
}

/** Plaintext bytes in an object of `ciphertextSize` bytes; IntegrityError when no message has that size. */
export function plaintextSize(ciphertextSize: number): number {
  if (!Number.isSafeInteger(ciphertextSize) || ciphertextSize < HEADER_SIZE + TAG_SIZE) {
    throw new IntegrityError('truncated', `an object of ${ciphertextSize} bytes is shorter than a header and an empty final chunk`);
  }
  const body = ciphertextSize - HEADER_SIZE;
  const finalSealed = body % SEALED_CHUNK_SIZE;
  // 0 means the short final chunk is missing (cut at a chunk boundary); 1..15 cannot hold a tag.
  if (finalSealed < TAG_SIZE) throw new IntegrityError('truncated', `an object of ${ciphertextSize} bytes has no complete final chunk`);
  return Math.floor(body / SEALED_CHUNK_SIZE) * CHUNK_SIZE + finalSealed - TAG_SIZE;
}

/** Which sealed chunks cover plaintext bytes [offset, offset+length): indices and ciphertext byte span. */
export function chunkSpan(
  offset: number,
  length: number,
  totalPlaintext: number,
): { firstChunk: number; lastChunk: number; ciphertextOffset: number; ciphertextLength: number } {
  if (![offset, length, totalPlaintext].every((n) => Number.isSafeInteger(n) && n >= 0) || offset + length > totalPlaintext) {
    throw new RangeError(`range ${offset}+${length} is outside a ${totalPlaintext}-byte plaintext`);
  }
  const finalChunk = Math.floor(totalPlaintext / CHUNK_SIZE);
  const firstChunk = Math.floor(offset / CHUNK_SIZE);
  // An empty range still names the chunk at `offset` (for an empty object, the empty final chunk).
  const lastChunk = length === 0 ? firstChunk : Math.floor((offset + length - 1) / CHUNK_SIZE);
  const lastSealed = lastChunk === finalChunk ? (totalPlaintext % CHUNK_SIZE) + TAG_SIZE : SEALED_CHUNK_SIZE;
  return {
    firstChunk,
    lastChunk,
    ciphertextOffset: HEADER_SIZE + firstChunk * SEALED_CHUNK_SIZE,
    ciphertextLength: (lastChunk - firstChunk) * SEALED_CHUNK_SIZE + lastSealed,
  };
}

/** HKDF-Expand with HMAC-SHA-512 (RFC 5869 §2.3, no Extract: the data key is already uniform). */
async function hkdfExpandSha512(prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  const hmac = await crypto.subtle.importKey('raw', prk, { name: 'HMAC', hash: 'SHA-512' }, false, ['sign']);
  const out = new Uint8Array(length);
  let previous = new Uint8Array(0);
  for (let filled = 0, counter = 1; filled < length; counter++) {
    const input = new Uint8Array(previous.length + info.length + 1);
    input.set(previous);
    input.set(info, previous.length);
    input[input.length - 1] = counter;
    previous = new Uint8Array(await crypto.subtle.sign('HMAC', hmac, input));
    out.set(previous.subarray(0, length - filled), filled);
    filled += previous.length;
  }
  return out;
}

interface Derived {
  key: CryptoKey;
  baseNonce: Uint8Array;
  commitment: Uint8Array;
}

async function derive(dataKey: Uint8Array, context: Uint8Array, salt: Uint8Array): Promise<Derived> {
  const info = new Uint8Array(INFO_PREFIX.length + SALT_SIZE + context.length);
  info.set(INFO_PREFIX);
  info.set(salt, INFO_PREFIX.length);
  info.set(context, INFO_PREFIX.length + SALT_SIZE);
  const okm = await hkdfExpandSha512(dataKey, info, 32 + 12 + COMMITMENT_SIZE);
  return { key: await importAesKey(okm.subarray(0, 32)), baseNonce: okm.slice(32, 44), commitment: okm.slice(44) };
}

function checkIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= MAX_CHUNKS) throw new RangeError(`chunk index ${index} is outside 0..2^38-1`);
}

/** base nonce XOR index as a big-endian integer; index < 2³⁸, so only the last 5 bytes change. */
function chunkNonce(baseNonce: Uint8Array, index: number): Uint8Array {
  const nonce = baseNonce.slice();
  const low = index >>> 0;
  nonce[11]! ^= low & 0xff;
  nonce[10]! ^= (low >>> 8) & 0xff;
  nonce[9]! ^= (low >>> 16) & 0xff;
  nonce[8]! ^= low >>> 24;
  nonce[7]! ^= Math.floor(index / 2 ** 32);
  return nonce;
}

/** Deterministic sealer for one object: same key+salt+context ⇒ byte-identical output (a Durable Object re-seals after restart). */
export class ChunkSealer {
  private constructor(
    private readonly derived: Derived,
    readonly salt: Uint8Array,
    readonly header: Uint8Array,
  ) {}

  /** `context` is the recording id as UTF-8; `salt` (24 bytes) is random unless given, and must never repeat for a key. */
  static async create(dataKey: Uint8Array, context: Uint8Array, salt: Uint8Array = crypto.getRandomValues(new Uint8Array(SALT_SIZE))): Promise<ChunkSealer> {
    if (salt.length !== SALT_SIZE) throw new RangeError(`salt must be ${SALT_SIZE} bytes`);
    const derived = await derive(dataKey, context, salt);
    const header = new Uint8Array(HEADER_SIZE);
    header.set(salt);
    header.set(derived.commitment, SALT_SIZE);
    return new ChunkSealer(derived, salt.slice(), header);
  }

  /** Seal chunk `index`: exactly CHUNK_SIZE bytes unless `final`, and fewer than CHUNK_SIZE if `final`. */
  sealChunk(index: number, plaintext: Uint8Array, final: boolean): Promise<Uint8Array> {
    checkIndex(index);
    if (final ? plaintext.length >= CHUNK_SIZE : plaintext.length !== CHUNK_SIZE) {
      throw new RangeError(`${final ? 'the final chunk must be shorter than' : 'a non-final chunk must be exactly'} ${CHUNK_SIZE} bytes, got ${plaintext.length}`);
    }
    return sealAesGcm(this.derived.key, chunkNonce(this.derived.baseNonce, index), plaintext);
  }
}

/** Opens the chunks of one object after its key commitment has been checked. */
export class ChunkOpener {
  private constructor(private readonly derived: Derived) {}

  /** Checks the header's commitment against the key and context; throws IntegrityError before any chunk is touched. */
  static async create(dataKey: Uint8Array, context: Uint8Array, header: Uint8Array): Promise<ChunkOpener> {
    if (dataKey.length !== 32) throw new IntegrityError('key', `a data key must be 32 bytes, got ${dataKey.length}`);
    if (header.length !== HEADER_SIZE) throw new IntegrityError('truncated', `the header must be ${HEADER_SIZE} bytes, got ${header.length}`);
    const derived = await derive(dataKey, context, header.subarray(0, SALT_SIZE));
    let diff = 0;
    for (let i = 0; i < COMMITMENT_SIZE; i++) diff |= derived.commitment[i]! ^ header[SALT_SIZE + i]!;
    if (diff !== 0) throw new IntegrityError('commitment', 'the key commitment does not match: wrong key, wrong recording or altered header');
    return new ChunkOpener(derived);
  }

  /** Authenticate and decrypt chunk `index`; a `final` chunk must be short, any other exactly SEALED_CHUNK_SIZE. */
  async openChunk(index: number, sealed: Uint8Array, final: boolean): Promise<Uint8Array> {
    checkIndex(index);
    if (final ? sealed.length < TAG_SIZE || sealed.length >= SEALED_CHUNK_SIZE : sealed.length !== SEALED_CHUNK_SIZE) {
      throw new IntegrityError('truncated', `chunk ${index} has ${sealed.length} bytes, impossible for a ${final ? 'final' : 'non-final'} chunk`);
    }
    try {
      return await openAesGcm(this.derived.key, chunkNonce(this.derived.baseNonce, index), sealed);
    } catch (cause) {
      throw new IntegrityError('chunk', `chunk ${index} failed authentication (altered, reordered or from another recording)`, { cause });
    }
  }
}

/** TransformStream: plaintext bytes in (any split) → header then sealed chunks out; emits the final short chunk on flush. */
export function createSealStream(sealer: ChunkSealer): TransformStream<Uint8Array, Uint8Array> {
  // Memory: one CHUNK_SIZE buffer for a partial chunk, plus the piece being processed.
  const pending = new Uint8Array(CHUNK_SIZE);
  let filled = 0;
  let index = 0;
  return new TransformStream({
    start(controller) {
      controller.enqueue(sealer.header.slice());
    },
    async transform(piece, controller) {
      const sealed: Promise<Uint8Array>[] = [];
      let at = 0;
      if (filled > 0) {
        at = Math.min(piece.length, CHUNK_SIZE - filled);
        pending.set(piece.subarray(0, at), filled);
        filled += at;
        if (filled < CHUNK_SIZE) return;
        // A full chunk is never the final one (the final chunk is short), so it can go out now.
        sealed.push(sealer.sealChunk(index++, pending, false));
        filled = 0;
      }
      for (; piece.length - at >= CHUNK_SIZE; at += CHUNK_SIZE) sealed.push(sealer.sealChunk(index++, piece.subarray(at, at + CHUNK_SIZE), false));
      if (sealed.length > 0) controller.enqueue(concatBytes(await Promise.all(sealed)));
      // Only now is `pending` free: the seals above may still have been reading it.
      pending.set(piece.subarray(at));
      filled = piece.length - at;
    },
    async flush(controller) {
      controller.enqueue(await sealer.sealChunk(index, pending.subarray(0, filled), true));
    },
  });
}

/**
 * TransformStream: ciphertext bytes of chunks firstChunk..lastChunk in → plaintext out; `finalChunk`
 * is the index of the object's final chunk. Each chunk is authenticated before a byte of it is
 * emitted; any failure errors the stream with IntegrityError. Pass `lastChunk` to also fail when
 * the input stops early (otherwise a stream that ends on a chunk boundary before the final chunk
 * is taken as a range that ends there).
 */
export function createOpenStream(opener: ChunkOpener, firstChunk: number, finalChunk: number, lastChunk?: number): TransformStream<Uint8Array, Uint8Array> {
  checkIndex(firstChunk);
  checkIndex(finalChunk);
  if (firstChunk > finalChunk || (lastChunk !== undefined && (lastChunk < firstChunk || lastChunk > finalChunk))) {
    throw new RangeError(`chunks ${firstChunk}..${lastChunk ?? ''} are outside an object whose final chunk is ${finalChunk}`);
  }
  // Memory: one SEALED_CHUNK_SIZE buffer for a partial chunk, plus the piece being processed.
  const pending = new Uint8Array(SEALED_CHUNK_SIZE);
  let filled = 0;
  let index = firstChunk;
  const trailing = () => new IntegrityError('trailing', `data continues after the final chunk ${finalChunk}`);
  return new TransformStream({
    async transform(piece, controller) {
      let at = 0;
      while (at < piece.length) {
        if (index > finalChunk) throw trailing();
        if (index === finalChunk) {
          // The final chunk is short: it can only be recognised at the end of the input.
          if (filled + piece.length - at >= SEALED_CHUNK_SIZE) throw trailing();
          pending.set(piece.subarray(at), filled);
          filled += piece.length - at;
          return;
        }
        if (filled > 0 || piece.length - at < SEALED_CHUNK_SIZE) {
          const take = Math.min(piece.length - at, SEALED_CHUNK_SIZE - filled);
          pending.set(piece.subarray(at, at + take), filled);
          filled += take;
          at += take;
          if (filled < SEALED_CHUNK_SIZE) return;
          controller.enqueue(await opener.openChunk(index++, pending, false));
          filled = 0;
          continue;
        }
        // Whole non-final chunks straight from the piece, all authenticated before any is emitted.
        const opened = [];
        for (; index < finalChunk && piece.length - at >= SEALED_CHUNK_SIZE; at += SEALED_CHUNK_SIZE) {
          opened.push(opener.openChunk(index++, piece.subarray(at, at + SEALED_CHUNK_SIZE), false));
        }
        controller.enqueue(concatBytes(await Promise.all(opened)));
      }
    },
    async flush(controller) {
      if (index === finalChunk && (filled > 0 || lastChunk === finalChunk)) {
        controller.enqueue(await opener.openChunk(index++, pending.subarray(0, filled), true));
      } else if (filled > 0) {
        throw new IntegrityError('truncated', `chunk ${index} ends after ${filled} of ${SEALED_CHUNK_SIZE} bytes`);
      }
      if (lastChunk !== undefined && index !== lastChunk + 1) {
        throw new IntegrityError('truncated', `the input stopped before chunk ${index}, expected chunks up to ${lastChunk}`);
      }
    },
  });
}
