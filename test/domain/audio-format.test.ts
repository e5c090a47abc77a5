/** The upload gate's sniffer: what may pass as MP3 behind an ID3 tag, and the gate's refusals. */
import { describe, expect, it } from 'vitest';
import { AudioSniffer, createAudioGate, detectAudioFormat, sniffAudioPrefix } from '../../src/domain/audio-format';
import { concatBytes } from '../../src/encoding';
import { AppError } from '../../src/errors';

const text = (s: string) => new TextEncoder().encode(s);
const FRAME = [0xff, 0xfb, 0x90, 0x64];

/** An ID3v2.4 tag whose body is `bodySize` bytes (size written syncsafe). */
function id3Tag(bodySize: number): Uint8Array {
  const tag = new Uint8Array(10 + bodySize);
  tag.set(text('ID3'));
  tag.set([4, 0, 0, (bodySize >> 21) & 0x7f, (bodySize >> 14) & 0x7f, (bodySize >> 7) & 0x7f, bodySize & 0x7f], 3);
  for (let i = 10; i < tag.length; i++) tag[i] = (i * 13) & 0x7f;
  return tag;
}

const join = (...parts: ArrayLike<number>[]) => concatBytes(parts.map((p) => Uint8Array.from(p)));

const HLS = text('#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2,\nfile:/etc/passwd.mp3\n#EXT-X-ENDLIST\n');
const FFCONCAT = text("ffconcat version 1.0\nfile 'file:/proc/self/environ'\n");

/** Feed `bytes` to a sniffer in pieces of `size`. */
function sniffInPieces(bytes: Uint8Array, size: number) {
  const sniffer = new AudioSniffer();
  for (let i = 0; i < bytes.length; i += size) {
    const answer = sniffer.push(bytes.subarray(i, i + size));
    if (answer !== undefined) return answer;
  }
  return sniffer.end();
}

async function throughGate(bytes: Uint8Array, pieceSize: number): Promise<{ out: number; error: unknown }> {
  const gate = createAudioGate(64 * 1024 * 1024);
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += pieceSize) controller.enqueue(bytes.slice(i, i + pieceSize));
      controller.close();
    },
  });
  let out = 0;
  try {
    for await (const piece of source.pipeThrough(gate.stream)) out += piece.length;
    return { out, error: null };
  } catch (error) {
    return { out, error };
  }
}

describe('the audio sniffer', () => {
  it('refuses an ID3 tag followed by an HLS playlist or an ffconcat script', () => {
    expect(detectAudioFormat(join(id3Tag(0), HLS))).toBeNull();
    expect(detectAudioFormat(join(id3Tag(0), FFCONCAT))).toBeNull();
    expect(detectAudioFormat(join(id3Tag(300), HLS))).toBeNull();
  });

  it('accepts an ID3 tag followed by an MPEG audio frame, and a bare frame', () => {
    expect(detectAudioFormat(join(id3Tag(0), FRAME, new Uint8Array(100)))).toBe('mp3');
    expect(detectAudioFormat(join(id3Tag(40), id3Tag(5), FRAME, new Uint8Array(8)))).toBe('mp3');
    expect(detectAudioFormat(join(FRAME, new Uint8Array(100)))).toBe('mp3');
  });

  it('skips a large tag by its syncsafe size, whatever the pieces the bytes arrive in', () => {
    const good = join(id3Tag(200_000), FRAME, new Uint8Array(1000));
    const bad = join(id3Tag(200_000), HLS);
    for (const size of [1, 7, 12, 4096, good.length]) {
      expect(sniffInPieces(good, size), `pieces of ${size}`).toBe('mp3');
      expect(sniffInPieces(bad, size), `pieces of ${size}`).toBeNull();
    }
  });

  it('refuses a tag whose size bytes are not syncsafe, and a file that ends inside its tag', () => {
    const broken = join(id3Tag(0), FRAME);
    broken[6] = 0x80;
    expect(detectAudioFormat(broken)).toBeNull();
    expect(detectAudioFormat(id3Tag(500).subarray(0, 200))).toBeNull();
  });
});

describe('a prefix of a stream still arriving (live calls)', () => {
  it('cannot tell yet while the bytes end inside an ID3 tag or before 12 bytes; can once the frame behind the tag is there', () => {
    const mp3 = join(id3Tag(300), FRAME, new Uint8Array(100));
    expect(sniffAudioPrefix(mp3.subarray(0, 200), { final: false })).toBeUndefined();
    expect(sniffAudioPrefix(mp3.subarray(0, 8), { final: false })).toBeUndefined();
    expect(sniffAudioPrefix(mp3, { final: false })).toBe('mp3');
    expect(sniffAudioPrefix(join(id3Tag(300), HLS), { final: false })).toBeNull();
  });

  it('decides on what came when the stream ends, and refuses tags that claim more than the bound at once', () => {
    expect(sniffAudioPrefix(id3Tag(300).subarray(0, 200), { final: true })).toBeNull();
    expect(sniffAudioPrefix(new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0, 0, 0, 0]), { final: true })).toBe('webm');
    expect(sniffAudioPrefix(id3Tag(100_000).subarray(0, 20), { final: false, maxTagBytes: 16 * 1024 })).toBeNull();
    expect(sniffAudioPrefix(id3Tag(100_000).subarray(0, 20), { final: false })).toBeUndefined();
  });
});

describe('the upload gate', () => {
  it('fails the stream with 415 when what follows a large ID3 tag is a playlist', async () => {
    const { error } = await throughGate(join(id3Tag(100_000), HLS), 16 * 1024);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'unsupported_media_type', status: 415 });
  });

  it('passes an MP3 with a large ID3 tag through unchanged', async () => {
    const mp3 = join(id3Tag(100_000), FRAME, new Uint8Array(5000));
    expect(await throughGate(mp3, 16 * 1024)).toEqual({ out: mp3.length, error: null });
  });

  it('lets no byte of a stream pass before its first bytes are judged', async () => {
    const { out, error } = await throughGate(text('<html><body>not audio at all</body></html>'), 3);
    expect(out).toBe(0);
    expect(error).toMatchObject({ code: 'unsupported_media_type' });
    expect(await throughGate(join(id3Tag(0), FFCONCAT), 3)).toMatchObject({ error: { code: 'unsupported_media_type' } });
  });
});
