/**
 * The one place bytes become base64, base64url or hex text and back (decoders throw a TypeError on
 * malformed input), and where byte arrays are joined.
 */

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
// String.fromCharCode takes its bytes as arguments: stay well below the engine's argument limit.
const SPREAD_LIMIT = 0x8000;

function bytesToBinaryString(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += SPREAD_LIMIT) binary += String.fromCharCode(...bytes.subarray(i, i + SPREAD_LIMIT));
  return binary;
}

function binaryStringToBytes(binary: string): Uint8Array {
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Standard base64 with padding (RFC 4648 §4). The runtime's own `Uint8Array.prototype.toBase64`
 * where it has one (workerd does; Node 22 does not): for the 25 MB a Workers AI transcription
 * sends, the binary-string route takes ~20× the time and one more copy of the audio in memory.
 */
export function bytesToBase64(bytes: Uint8Array): string {
  const native = (bytes as Uint8Array & { toBase64?: () => string }).toBase64;
  if (typeof native === 'function') return native.call(bytes);
  return btoa(bytesToBinaryString(bytes));
}

/**
 * Decodes standard base64 as `atob` does (the WHATWG forgiving decoder: ASCII whitespace ignored,
 * padding optional), so secrets pasted with a trailing newline still decode; other input throws.
 */
export function base64ToBytes(text: string): Uint8Array {
  try {
    return binaryStringToBytes(atob(text));
  } catch (cause) {
    throw new TypeError('invalid base64', { cause });
  }
}

/** URL-safe base64 without padding (RFC 4648 §5), as in JWTs and URLs. */
export function bytesToBase64Url(bytes: Uint8Array): string {
  return bytesToBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes unpadded URL-safe base64; padding, standard-alphabet letters or an impossible length throw. */
export function base64UrlToBytes(text: string): Uint8Array {
  if (!BASE64URL.test(text) || text.length % 4 === 1) throw new TypeError('invalid base64url');
  const padded = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return binaryStringToBytes(atob(padded));
}

/** Lower-case hex, two digits per byte. */
const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

export function bytesToHex(bytes: Uint8Array): string {
  // A table and a plain loop: audit verification hashes a million events through here.
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX_BYTES[bytes[i]!];
  return out;
}

/** Decodes hex of either case; an odd length or a non-hex digit throws. */
export function hexToBytes(hex: string): Uint8Array {
  if (!HEX.test(hex)) throw new TypeError('invalid hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The parts one after another in a new array (a single part is returned as it is). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
