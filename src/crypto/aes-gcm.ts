/**
 * The project's one AES-256-GCM wrapper over Web Crypto. Every sealed byte in this service (audio
 * chunks, wrapped data keys, wrapped user secrets) goes through here, so the parameter rules live
 * in one place: 32-byte keys, 12-byte IVs, 16-byte tags appended to the ciphertext.
 */
import { AppError } from '../errors';

export const AES_KEY_SIZE = 32;
export const GCM_IV_SIZE = 12;
export const GCM_TAG_SIZE = 16;

export type IntegrityReason = 'authentication' | 'commitment' | 'chunk' | 'truncated' | 'trailing' | 'key';

/**
 * Ciphertext or its metadata failed authentication or has an impossible shape. Rendered by
 * `app.onError` as the contract's 500 `integrity_error`; `reason` says which check failed.
 */
export class IntegrityError extends AppError {
  override name = 'IntegrityError';
  declare readonly code: 'integrity_error';
  constructor(
    readonly reason: IntegrityReason,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super('integrity_error', message, options);
  }
}

/** Import 32 raw bytes as a non-extractable AES-256-GCM key. */
export function importAesKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== AES_KEY_SIZE) throw new RangeError(`AES-256-GCM key must be ${AES_KEY_SIZE} bytes, got ${raw.length}`);
  return crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

function checkIv(iv: Uint8Array): void {
  // Any other IV length makes GCM hash the IV (GHASH), which the Wycheproof vectors show is a trap.
  if (iv.length !== GCM_IV_SIZE) throw new RangeError(`AES-GCM IV must be ${GCM_IV_SIZE} bytes, got ${iv.length}`);
}

const gcmParams = (iv: Uint8Array, aad: Uint8Array | undefined) =>
  aad ? { name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 } : { name: 'AES-GCM', iv, tagLength: 128 };

/** ciphertext ‖ 16-byte tag. */
export async function sealAesGcm(key: CryptoKey, iv: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
  checkIv(iv);
  return new Uint8Array(await crypto.subtle.encrypt(gcmParams(iv, aad), key, plaintext));
}

/** Inverse of `sealAesGcm`; throws IntegrityError('authentication') unless the tag verifies. */
export async function openAesGcm(key: CryptoKey, iv: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
  checkIv(iv);
  if (sealed.length < GCM_TAG_SIZE) throw new IntegrityError('truncated', 'sealed data is shorter than an authentication tag');
  try {
    return new Uint8Array(await crypto.subtle.decrypt(gcmParams(iv, aad), key, sealed));
  } catch (cause) {
    throw new IntegrityError('authentication', 'AES-GCM authentication failed', { cause });
  }
}

/** iv ‖ ciphertext ‖ tag, under a fresh random iv: for a key that seals few messages (at most 2^32 under one key). */
export async function sealWithRandomIv(key: CryptoKey, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
  const iv = crypto.getRandomValues(new Uint8Array(GCM_IV_SIZE));
  const sealed = await sealAesGcm(key, iv, plaintext, aad);
  const out = new Uint8Array(GCM_IV_SIZE + sealed.length);
  out.set(iv);
  out.set(sealed, GCM_IV_SIZE);
  return out;
}

/** Inverse of `sealWithRandomIv`. */
export function openWithIv(key: CryptoKey, stored: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
  return openAesGcm(key, stored.subarray(0, GCM_IV_SIZE), stored.subarray(GCM_IV_SIZE), aad);
}
