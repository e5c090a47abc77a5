/**
 * Audio formats recognised from their first bytes (never from a name or a header the client
 * sets): WAV/RIFF, Ogg, WebM/Matroska, MP3 (ID3 or a bare MPEG audio frame), MP4/M4A, FLAC.
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

/** Bytes needed to decide. */
export const SNIFF_BYTES = 12;

const ascii = (bytes: Uint8Array, offset: number, text: string) => [...text].every((ch, i) => bytes[offset + i] === ch.charCodeAt(0));

/** The format of `head` (at least SNIFF_BYTES of the file), or null when it is not a listed audio format. */
export function detectAudioFormat(head: Uint8Array): AudioFormat | null {
  if (head.length < 4) return null;
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'wav';
  if (ascii(head, 0, 'OggS')) return 'ogg';
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return 'webm';
  if (ascii(head, 0, 'fLaC')) return 'flac';
  if (ascii(head, 4, 'ftyp')) return 'm4a';
  if (ascii(head, 0, 'ID3')) return 'mp3';
  // MPEG audio frame sync: 11 set bits, a valid version (not 01), a valid layer (not 00), a valid bitrate.
  if (head[0] === 0xff && (head[1]! & 0xe0) === 0xe0 && (head[1]! & 0x18) !== 0x08 && (head[1]! & 0x06) !== 0 && (head[2]! & 0xf0) !== 0xf0) return 'mp3';
  return null;
}

export const unsupportedFormat = () =>
  new AppError('unsupported_media_type', 'Invalid file format: expected WAV, Ogg, WebM, MP3, M4A or FLAC audio');

/**
 * Pass-through that enforces `maxBytes` while streaming (whatever Content-Length claimed) and
 * checks the first bytes are audio. `format` resolves once known.
 */
export function createAudioGate(maxBytes: number): { stream: TransformStream<Uint8Array, Uint8Array>; format: () => AudioFormat | null; size: () => number } {
  let seen = 0;
  let head = new Uint8Array(0);
  let format: AudioFormat | null = null;
  const tooLarge = () => new AppError('payload_too_large', `The file is larger than the limit of ${maxBytes} bytes`);
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(piece, controller) {
      seen += piece.length;
      if (seen > maxBytes) throw tooLarge();
      if (format === null) {
        const joined = new Uint8Array(head.length + piece.length);
        joined.set(head);
        joined.set(piece, head.length);
        if (joined.length < SNIFF_BYTES) {
          head = joined;
          return;
        }
        format = detectAudioFormat(joined);
        if (!format) throw unsupportedFormat();
        head = new Uint8Array(0);
        controller.enqueue(joined);
        return;
      }
      controller.enqueue(piece);
    },
    flush(controller) {
      if (format === null) {
        format = detectAudioFormat(head);
        if (!format) throw unsupportedFormat();
        controller.enqueue(head);
      }
    },
  });
  return { stream, format: () => format, size: () => seen };
}
