import { describe, expect, it } from 'vitest';
import { base64ToBytes, base64UrlToBytes, bytesToBase64, bytesToBase64Url, bytesToHex, hexToBytes } from '../src/encoding';

const every = Uint8Array.from({ length: 256 }, (_, i) => i);

describe('encoding', () => {
  it('round-trips every byte value through base64, base64url and hex', () => {
    expect(base64ToBytes(bytesToBase64(every))).toEqual(every);
    expect(base64UrlToBytes(bytesToBase64Url(every))).toEqual(every);
    expect(hexToBytes(bytesToHex(every))).toEqual(every);
  });

  it('matches RFC 4648 test vectors', () => {
    const text = (s: string) => new TextEncoder().encode(s);
    expect(['', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar'].map((s) => bytesToBase64(text(s)))).toEqual(['', 'Zg==', 'Zm8=', 'Zm9v', 'Zm9vYg==', 'Zm9vYmE=', 'Zm9vYmFy']);
    expect(bytesToBase64Url(Uint8Array.of(0xfb, 0xff))).toBe('-_8');
    expect(bytesToBase64(Uint8Array.of(0xfb, 0xff))).toBe('+/8=');
    expect(bytesToHex(Uint8Array.of(0, 15, 16, 255))).toBe('000f10ff');
  });

  it('encodes a 1 MiB buffer (more bytes than one String.fromCharCode call takes)', () => {
    const big = new Uint8Array(1024 * 1024).map((_, i) => i * 7);
    expect(base64ToBytes(bytesToBase64(big))).toEqual(big);
  });

  it('the runtime\'s own base64 (workerd has Uint8Array.prototype.toBase64) and the portable route (Node) give the same text', () => {
    expect(typeof (Uint8Array.prototype as { toBase64?: unknown }).toBase64).toBe('function');
    const portable = (bytes: Uint8Array) => bytesToBase64(Object.defineProperty(bytes.slice(), 'toBase64', { value: undefined }));
    const big = new Uint8Array(1024 * 1024 + 2).map((_, i) => i * 7);
    for (const bytes of [every, big, Uint8Array.of(0xfb, 0xff), new Uint8Array(0)]) expect(portable(bytes)).toBe(bytesToBase64(bytes));
  });

  it('rejects malformed input with a TypeError', () => {
    expect(() => base64ToBytes('no*base64')).toThrow(TypeError);
    expect(() => base64UrlToBytes('+/8=')).toThrow(TypeError);
    expect(() => base64UrlToBytes('abcde')).toThrow(TypeError);
    expect(() => hexToBytes('abc')).toThrow(TypeError);
    expect(() => hexToBytes('zz')).toThrow(TypeError);
  });

  it('decodes base64 secrets as atob does: whitespace ignored, padding optional', () => {
    expect(base64ToBytes('Zm9v\n')).toEqual(new TextEncoder().encode('foo'));
    expect(base64ToBytes('Zm8')).toEqual(new TextEncoder().encode('fo'));
  });
});
