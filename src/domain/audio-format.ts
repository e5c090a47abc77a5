/**
 * Audio formats recognised from their first bytes (never from a name or a header the client
 * sets): WAV/RIFF, Ogg, WebM/Matroska, MP3 (a bare MPEG audio frame, or one after ID3 tags),
 * MP4/M4A, FLAC. The FFmpeg server sniffs again on its own (containers/ffmpeg/input-guard.mjs).
 */
import { AppError } from '../errors';

export type AudioFormat = 'wav' | 'webm' | 'ogg' | 'mp3' | 'm4a' | 'flac';

export const CONTENT_TYPES: Record<AudioFormat, string> = {
  wav: 'audio/wav',
  webm: 'audio/webm',
  ogg: 'audio/ogg',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  flac: 'audio/flac',
};

/** Bytes the gate holds back before anything passes: enough to tell every format but MP3-behind-ID3 apart. */
export const SNIFF_BYTES = 12;

/** ID3v2 tags skipped before the MPEG frame that must follow them (a file may carry a few). */
const MAX_ID3_TAGS = 4;

const ascii = (bytes: Uint8Array, offset: number, text: string) => [...text].every((ch, i) => bytes[offset + i] === ch.charCodeAt(0));

/** 11 sync bits, an MPEG version and layer that exist, a bit rate and a sample rate that are not "bad". */
function isMpegFrameHeader(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && (b[1]! & 0x18) !== 0x08 && (b[1]! & 0x06) !== 0 && (b[2]! & 0xf0) !== 0xf0 && (b[2]! & 0x0c) !== 0x0c;
}

/** The length of the ID3v2 tag `b` starts with (header, syncsafe size, optional footer), or null when it starts with none. */
function id3TagLength(b: Uint8Array): number | null {
  if (b.length < 10 || !ascii(b, 0, 'ID3') || b[3] === 0xff || b[4] === 0xff) return null;
  if ([b[6]!, b[7]!, b[8]!, b[9]!].some((byte) => byte >= 0x80)) return null;
  const size = (b[6]! << 21) | (b[7]! << 14) | (b[8]! << 7) | b[9]!;
  return 10 + size + (b[5]! & 0x10 ? 10 : 0);
}

/** The format a file's first bytes name, when they are not an ID3 tag. */
function formatOfHead(head: Uint8Array): AudioFormat | null {
  if (head.length < 4) return null;
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'wav';
  if (ascii(head, 0, 'OggS')) return 'ogg';
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return 'webm';
  if (ascii(head, 0, 'fLaC')) return 'flac';
  if (ascii(head, 4, 'ftyp')) return 'm4a';
  if (isMpegFrameHeader(head)) return 'mp3';
  return null;
}

/**
 * Tells a stream's format from its bytes as they arrive, holding at most SNIFF_BYTES of them. An
 * ID3 tag proves nothing (FFmpeg skips it and guesses again, so a playlist or a concat script can
 * hide behind one): the tag is skipped by its own syncsafe size, and what follows must be another
 * tag or an MPEG audio frame. `push` answers the format, null for "not audio", or undefined while
 * it cannot tell yet; `end` decides on what came.
 */
export class AudioSniffer {
  #window = new Uint8Array(SNIFF_BYTES);
  #filled = 0;
  /** Stream position of the window's first byte: 0, then the end of each ID3 tag. */
  #windowStart = 0;
  #position = 0;
  #tags = 0;
  #result: AudioFormat | null | undefined;

  /** `maxTagBytes`: ID3 tags that claim to run past this stream position are refused at once (unbounded by default). */
  readonly #maxTagBytes: number;

  constructor(maxTagBytes = Number.POSITIVE_INFINITY) {
    this.#maxTagBytes = maxTagBytes;
  }

  push(piece: Uint8Array): AudioFormat | null | undefined {
    let offset = 0;
    while (this.#result === undefined && offset < piece.length) {
      const at = this.#position + offset;
      const wanted = this.#windowStart + this.#filled;
      if (at < wanted) {
        // Inside a tag being skipped: jump to where the window continues.
        offset = Math.min(piece.length, offset + (wanted - at));
        continue;
      }
      const take = Math.min(SNIFF_BYTES - this.#filled, piece.length - offset);
      this.#window.set(piece.subarray(offset, offset + take), this.#filled);
      this.#filled += take;
      offset += take;
      if (this.#filled === SNIFF_BYTES) this.#decide(this.#window);
    }
    this.#position += piece.length;
    return this.#result;
  }

  end(): AudioFormat | null {
    if (this.#result === undefined) this.#decide(this.#window.subarray(0, this.#filled), true);
    return this.#result ?? null;
  }

  #decide(window: Uint8Array, final = false): void {
    const tag = id3TagLength(window);
    if (tag !== null && !final) {
      if (++this.#tags > MAX_ID3_TAGS || this.#windowStart + tag > this.#maxTagBytes) this.#result = null;
      // A tag shorter than the window (an empty one) ends inside it: those bytes start the next window.
      const overlap = Math.max(0, this.#filled - tag);
      this.#window.copyWithin(0, this.#filled - overlap, this.#filled);
      this.#windowStart += tag;
      this.#filled = overlap;
      return;
    }
    if (this.#windowStart === 0) this.#result = formatOfHead(window);
    else this.#result = isMpegFrameHeader(window) ? 'mp3' : null;
  }
}

/**
 * The format of a file that starts with `head`, or null when it is not a listed audio format.
 * MP3 behind an ID3 tag is recognised only when `head` reaches past the tag to the first frame.
 */
export function detectAudioFormat(head: Uint8Array): AudioFormat | null {
  return sniffAudioPrefix(head, { final: true }) ?? null;
}

/**
 * The format of a stream whose first bytes are `head`, decided by the same rule as uploads, or
 * undefined while `head` is too short to tell (fewer than SNIFF_BYTES, or an ID3 tag that runs past
 * it) and more bytes may still come. `final`: no more will come, so decide on what is there.
 * `maxTagBytes` bounds how far ID3 tags may push the decision.
 */
export function sniffAudioPrefix(head: Uint8Array, options: { final: boolean; maxTagBytes?: number }): AudioFormat | null | undefined {
  const sniffer = new AudioSniffer(options.maxTagBytes);
  const format = sniffer.push(head);
  if (format !== undefined || !options.final) return format;
  return sniffer.end();
}

export const unsupportedFormat = () =>
  new AppError('unsupported_media_type', 'Invalid file format: expected WAV, Ogg, WebM, MP3, M4A or FLAC audio');

/**
 * Pass-through that enforces `maxBytes` while streaming (whatever Content-Length claimed) and
 * checks the bytes are audio: nothing passes before the first SNIFF_BYTES decide, and behind an
 * ID3 tag the stream fails (so the upload is refused and nothing stays stored) when what follows
 * the tag is not an MPEG frame. `format` resolves once known.
 */
export function createAudioGate(maxBytes: number): { stream: TransformStream<Uint8Array, Uint8Array>; format: () => AudioFormat | null; size: () => number } {
  let seen = 0;
  const sniffer = new AudioSniffer();
  let format: AudioFormat | null | undefined;
  let held: Uint8Array[] = [];
  const tooLarge = () => new AppError('payload_too_large', `The file is larger than the limit of ${maxBytes} bytes`);
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(piece, controller) {
      seen += piece.length;
      if (seen > maxBytes) throw tooLarge();
      if (format === undefined) format = sniffer.push(piece);
      if (format === null) throw unsupportedFormat();
      if (format === undefined && seen < SNIFF_BYTES) {
        held.push(piece);
        return;
      }
      for (const early of held) controller.enqueue(early);
      held = [];
      controller.enqueue(piece);
    },
    flush(controller) {
      if (format === undefined) format = sniffer.end();
      if (format === null) throw unsupportedFormat();
      for (const early of held) controller.enqueue(early);
    },
  });
  return { stream, format: () => format ?? null, size: () => seen };
}
