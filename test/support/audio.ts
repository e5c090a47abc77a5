/** Generated audio fixtures (no committed binaries): a PCM WAV of a sine, and format headers. */

/** A 16-bit mono PCM WAV of `seconds` of a sine at `hz`, sampled at `rate`. */
export function sineWav(seconds: number, hz = 440, rate = 8000): Uint8Array {
  const samples = Math.round(seconds * rate);
  const out = new Uint8Array(44 + samples * 2);
  const view = new DataView(out.buffer);
  const ascii = (o: number, s: string) => [...s].forEach((ch, i) => view.setUint8(o + i, ch.charCodeAt(0)));
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + samples * 2, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, samples * 2, true);
  for (let i = 0; i < samples; i++) view.setInt16(44 + i * 2, Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12000), true);
  return out;
}

/** The first bytes of each format followed by `size` deterministic bytes (enough for the sniffer). */
export const MAGIC: Record<string, number[]> = {
  wav: [...'RIFF'].map((c) => c.charCodeAt(0)).concat([0, 0, 0, 0], [...'WAVE'].map((c) => c.charCodeAt(0))),
  ogg: [...'OggS'].map((c) => c.charCodeAt(0)).concat([0, 2, 0, 0, 0, 0, 0, 0]),
  webm: [0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81],
  // An empty ID3v2.4 tag, then an MPEG-1 Layer III frame header (128 kb/s, 44.1 kHz).
  mp3: [...'ID3'].map((c) => c.charCodeAt(0)).concat([4, 0, 0, 0, 0, 0, 0, 0xff, 0xfb, 0x90, 0x64]),
  m4a: [0, 0, 0, 0x20, ...[...'ftypM4A '].map((c) => c.charCodeAt(0))],
  flac: [...'fLaC'].map((c) => c.charCodeAt(0)).concat([0, 0, 0, 0x22, 0x10, 0, 0x10, 0]),
};

export function withMagic(format: keyof typeof MAGIC, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff;
  out.set(MAGIC[format]!);
  return out;
}

export function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65536)));
  return out;
}
