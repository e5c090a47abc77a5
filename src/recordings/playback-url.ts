/**
 * Signed playback URLs: `/api/v1/recordings/<id>/play?quality=&exp=&sig=` where `sig` is
 * HMAC-SHA-256, under a key derived from the master key for this purpose only, of the id, quality
 * and expiry. Verification is constant time (Web Crypto `verify`); expired or altered → 403.
 */
import { deriveHmacKey, hmacHex } from '../crypto/derive';
import { hexToBytes } from '../encoding';
import { AppError } from '../errors';

export type Quality = 'original' | 'high' | 'low';

const message = (id: string, quality: Quality, exp: number) => `playback/v1\n${id}\n${quality}\n${exp}`;

export async function signPlaybackUrl(masterKey: string, base: string, id: string, quality: Quality, ttlSeconds: number, now = Date.now()) {
  const exp = Math.floor(now / 1000) + ttlSeconds;
  const sig = await hmacHex(await deriveHmacKey(masterKey, 'playback-url'), message(id, quality, exp));
  const url = new URL(`/api/v1/recordings/${encodeURIComponent(id)}/play`, base);
  url.searchParams.set('quality', quality);
  url.searchParams.set('exp', String(exp));
  url.searchParams.set('sig', sig);
  return { url: url.toString(), expiresAt: new Date(exp * 1000).toISOString(), exp };
}

/** Throws 403 unless the signature matches and has not expired; returns the seconds left. */
export async function verifyPlaybackSignature(masterKey: string, id: string, quality: string | undefined, exp: string | undefined, sig: string | undefined, now = Date.now()): Promise<{ quality: Quality; secondsLeft: number }> {
  const forbidden = (why: string) => new AppError('forbidden', `This playback link is ${why}`);
  if (!quality || !exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[0-9a-f]{64}$/.test(sig) || !['original', 'high', 'low'].includes(quality)) throw forbidden('invalid');
  const key = await deriveHmacKey(masterKey, 'playback-url');
  const valid = await crypto.subtle.verify('HMAC', key, hexToBytes(sig), new TextEncoder().encode(message(id, quality as Quality, Number(exp))));
  if (!valid) throw forbidden('invalid');
  const secondsLeft = Number(exp) - Math.floor(now / 1000);
  if (secondsLeft <= 0) throw forbidden('expired');
  return { quality: quality as Quality, secondsLeft };
}
