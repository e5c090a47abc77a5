/**
 * What ffmpeg may read: only the one input file, through the demuxer its own first bytes name.
 * Left to guess, ffmpeg skips an ID3 tag and then probes what follows, so an "MP3" can be an HLS
 * playlist or a concat script that makes ffmpeg open other files of this machine (or URLs). So
 * the format is sniffed here, never taken from the caller, and forced with `-f`; the protocols
 * are limited to `file` and `pipe`; and every call names exactly one input, this one.
 */
import { open } from 'node:fs/promises';

/** The placeholder of the input path in argument lists; each engine puts its own path there. */
export const INPUT = '\u0000input';

/** What is accepted, by the demuxer that reads it: the formats the Worker's upload gate accepts. */
export const DEMUXERS = ['wav', 'ogg', 'matroska', 'flac', 'mov', 'mp3'];

/** ID3v2 tags skipped before the MPEG frame that must follow (a file may carry a few). */
const MAX_ID3_TAGS = 4;

const ascii = (bytes, offset, text) => [...text].every((ch, i) => bytes[offset + i] === ch.charCodeAt(0));

/** 11 sync bits, an MPEG version and layer that exist, a bit rate and a sample rate that are not "bad". */
export function isMpegFrameHeader(b) {
  return b.length >= 4 && b[0] === 0xff && (b[1] & 0xe0) === 0xe0 && (b[1] & 0x18) !== 0x08 && (b[1] & 0x06) !== 0 && (b[2] & 0xf0) !== 0xf0 && (b[2] & 0x0c) !== 0x0c;
}

/** The length of the ID3v2 tag at the start of `b` (header, syncsafe size, optional footer), or null when it is not one. */
export function id3TagLength(b) {
  if (b.length < 10 || !ascii(b, 0, 'ID3') || b[3] === 0xff || b[4] === 0xff) return null;
  if ([b[6], b[7], b[8], b[9]].some((byte) => byte >= 0x80)) return null;
  const size = (b[6] << 21) | (b[7] << 14) | (b[8] << 7) | b[9];
  return 10 + size + (b[5] & 0x10 ? 10 : 0);
}

/** The demuxer for the file's first bytes, or null when they are not one of DEMUXERS' formats. */
function demuxerOf(head) {
  if (head.length < 12) return null;
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'wav';
  if (ascii(head, 0, 'OggS')) return 'ogg';
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return 'matroska';
  if (ascii(head, 0, 'fLaC')) return 'flac';
  if (ascii(head, 4, 'ftyp')) return 'mov';
  if (isMpegFrameHeader(head)) return 'mp3';
  return null;
}

/**
 * Read the file's first bytes (and, for MP3, the bytes after each ID3 tag) and name the demuxer
 * that must read it. Null when it is no audio format accepted here, including an ID3 tag followed
 * by anything but an MPEG audio frame.
 * @param {string} file
 * @returns {Promise<string | null>}
 */
export async function sniffDemuxer(file) {
  const handle = await open(file, 'r');
  try {
    const read = async (position, length) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    };
    let offset = 0;
    for (let tags = 0; tags <= MAX_ID3_TAGS; tags++) {
      const head = await read(offset, 12);
      const tag = id3TagLength(head);
      if (tag === null) return offset === 0 ? demuxerOf(head) : isMpegFrameHeader(head) ? 'mp3' : null;
      offset += tag;
    }
    return null;
  } finally {
    await handle.close();
  }
}

/**
 * The input half of every ffmpeg/ffprobe command, the only place an input is named: the forced
 * demuxer, the protocol whitelist, and the one input (`file:` so that no path can be read as
 * another protocol's URL).
 * @param {string} demuxer one of DEMUXERS
 */
export function inputArgs(demuxer) {
  if (!DEMUXERS.includes(demuxer)) throw new Error(`no demuxer ${JSON.stringify(demuxer)} is allowed`);
  return ['-f', demuxer, '-protocol_whitelist', 'file,pipe', '-i', INPUT];
}
