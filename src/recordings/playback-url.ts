/**
 * Signed playback URLs: `/api/v1/recordings/<id>/play?quality=&exp=&by=&role=&sig=` where `sig` is
 * HMAC-SHA-256, under a key derived from the master key for this purpose only, of the id, quality,
 * expiry and who asked for the link (`by`, `role`), so that each use can check that they still may
 * hear it. Verification is constant time (Web Crypto `verify`); expired or altered → 403.
 */
import type { Role } from '../auth/principal';
import { deriveHmacKey, hmacHex } from '../crypto/derive';
import { hexToBytes } from '../encoding';
import { AppError } from '../errors';

/** What a stream or signed link serves: the original, or a rendition (`mp3` beyond the contract's three, for clients that need MP3). */
export type Quality = 'original' | 'high' | 'low' | 'mp3';

/** The query parameters of a signed link. */
export interface PlaybackLink {
  quality: string;
  exp: string;
  by: string;
  role: string;
  sig: string;
}

const QUALITIES: readonly string[] = ['original', 'high', 'low', 'mp3'];
const HOLDER_ROLES: readonly string[] = ['user', 'admin'];

const message = (id: string, quality: Quality, exp: number, holder: { id: string; role: Role }) => `playback/v2\n${id}\n${quality}\n${exp}\n${holder.role}\n${holder.id}`;

export async function signPlaybackUrl(masterKey: string, base: string, id: string, quality: Quality, ttlSeconds: number, holder: { id: string; role: Role }, now = Date.now()) {
  const exp = Math.floor(now / 1000) + ttlSeconds;
  const sig = await hmacHex(await deriveHmacKey(masterKey, 'playback-url'), message(id, quality, exp, holder));
  const url = new URL(`/api/v1/recordings/${encodeURIComponent(id)}/play`, base);
  url.searchParams.set('quality', quality);
  url.searchParams.set('exp', String(exp));
  url.searchParams.set('by', holder.id);
  url.searchParams.set('role', holder.role);
  url.searchParams.set('sig', sig);
  return { url: url.toString(), expiresAt: new Date(exp * 1000).toISOString(), exp };
}

/** Throws 403 unless the signature matches and has not expired; returns what the link grants and to whom. */
export async function verifyPlaybackSignature(masterKey: string, id: string, link: Partial<PlaybackLink>, now = Date.now()): Promise<{ quality: Quality; secondsLeft: number; holder: { id: string; role: Role } }> {
  const forbidden = (why: string) => new AppError('forbidden', `This playback link is ${why}`);
  const { quality, exp, by, role, sig } = link;
  if (!quality || !exp || !sig || !by || !role || !/^\d{1,12}$/.test(exp) || !/^[0-9a-f]{64}$/.test(sig) || !QUALITIES.includes(quality) || !HOLDER_ROLES.includes(role) || by.length > 256) {
    throw forbidden('invalid');
  }
  const holder = { id: by, role: role as Role };
  const key = await deriveHmacKey(masterKey, 'playback-url');
  const valid = await crypto.subtle.verify('HMAC', key, hexToBytes(sig), new TextEncoder().encode(message(id, quality as Quality, Number(exp), holder)));
  if (!valid) throw forbidden('invalid');
  const secondsLeft = Number(exp) - Math.floor(now / 1000);
  if (secondsLeft <= 0) throw forbidden('expired');
  return { quality: quality as Quality, secondsLeft, holder };
}
