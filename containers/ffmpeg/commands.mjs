/**
 * What ffmpeg is asked to do, as argument lists for `engine.transcode`: the renditions, noise
 * reduction and redaction. Which engine runs them is engines.mjs's business.
 */

/** The renditions `/transcode?profile=` offers. Both Opus ones are in WebM, which every browser plays. */
export const PROFILES = {
  high: { contentType: 'audio/webm', codec: ['-c:a', 'libopus', '-b:a', '48k'], container: 'webm', maxChannels: 2 },
  low: { contentType: 'audio/webm', codec: ['-c:a', 'libopus', '-b:a', '16k', '-application', 'voip'], container: 'webm', maxChannels: 1 },
  mp3: { contentType: 'audio/mpeg', codec: ['-c:a', 'libmp3lame', '-b:a', '64k'], container: 'mp3', maxChannels: 2 },
};

/** A high-pass under the voice band for hum, then FFT denoising of the broadband noise floor. */
const DENOISE = 'highpass=f=80,afftdn';

/** Only the first audio stream, no cover art, no metadata from the caller's file. */
const AUDIO_ONLY = ['-map_metadata', '-1', '-vn', '-sn', '-dn'];

/**
 * @param {keyof typeof PROFILES} profile
 * @param {import('./engines.mjs').Probe} probe of the input
 * @param {{ denoise: boolean }} options
 * @returns {{ args: string[], contentType: string }}
 */
export function transcodeCommand(profile, probe, { denoise }) {
  const target = PROFILES[profile];
  return {
    args: [
      '-map', '0:a:0', ...AUDIO_ONLY,
      ...(denoise ? ['-af', DENOISE] : []),
      ...(probe.channels > target.maxChannels ? ['-ac', String(target.maxChannels)] : []),
      ...target.codec,
      '-f', target.container,
    ],
    contentType: target.contentType,
  };
}

/**
 * Silence samples [startMs, endMs) of the first audio stream, counted at the decoder's rate from
 * its first sample. `asegment` cuts the stream at those exact sample positions and only the middle
 * piece goes through `volume=0`: `volume`'s own `enable='between(t,…)'` switches per frame, and
 * frames are 1,024+ samples (128 ms at 8 kHz), so it could not be sample-accurate. `concat` joins
 * the pieces back with every sample kept, so the duration does not change; it expects each piece
 * to start at timestamp 0 (else it leaves gaps that timestamped containers such as WebM keep).
 * @param {import('./engines.mjs').Probe} probe of the input
 * @param {number} startMs
 * @param {number} endMs
 * @returns {{ args: string[], contentType: string }}
 */
export function redactCommand(probe, startMs, endMs) {
  const startSample = Math.round((startMs * probe.sampleRate) / 1000);
  const endSample = Math.round((endMs * probe.sampleRate) / 1000);
  const graph =
    `[0:a:0]asegment=samples=${startSample}|${endSample}[before][span][after];` +
    '[before]asetpts=PTS-STARTPTS[b];[span]volume=0,asetpts=PTS-STARTPTS[s];[after]asetpts=PTS-STARTPTS[a];' +
    '[b][s][a]concat=n=3:v=0:a=1[out]';
  const output = sameFamilyOutput(probe);
  // bitexact: no encoder tag (WAV's LIST/ISFT chunk), so a PCM file keeps its size and header.
  return { args: ['-filter_complex', graph, '-map', '[out]', ...AUDIO_ONLY, '-fflags', '+bitexact', '-flags:a', '+bitexact', ...output.args], contentType: output.contentType };
}

/** True when the span covers at least one sample at the input's rate. */
export function spanHasSamples(probe, startMs, endMs) {
  return Math.round((endMs * probe.sampleRate) / 1000) > Math.round((startMs * probe.sampleRate) / 1000);
}

/**
 * The redacted file keeps the input's container and codec where ffmpeg can write them (WAV and
 * FLAC in the very same codec, so they stay lossless); a lossy input is re-encoded in its codec
 * family at about its bit rate; anything else becomes FLAC, which loses nothing.
 */
function sameFamilyOutput(probe) {
  const bitRate = (fallback) => ['-b:a', String(Math.min(320_000, Math.max(8_000, probe.bitRate ?? fallback)))];
  const opus = () => ['-c:a', 'libopus', ...bitRate(48_000)];
  const vorbis = () => ['-c:a', 'libvorbis', ...bitRate(96_000)];
  switch (`${probe.format}/${probe.codec}`) {
    case 'webm/opus':
      return { args: [...opus(), '-f', 'webm'], contentType: 'audio/webm' };
    case 'webm/vorbis':
      return { args: [...vorbis(), '-f', 'webm'], contentType: 'audio/webm' };
    case 'ogg/opus':
      return { args: [...opus(), '-f', 'ogg'], contentType: 'audio/ogg' };
    case 'ogg/vorbis':
      return { args: [...vorbis(), '-f', 'ogg'], contentType: 'audio/ogg' };
    case 'ogg/flac':
      return { args: ['-c:a', 'flac', '-f', 'ogg'], contentType: 'audio/ogg' };
    case 'mp3/mp3':
      return { args: ['-c:a', 'libmp3lame', ...bitRate(128_000), '-f', 'mp3'], contentType: 'audio/mpeg' };
    case 'm4a/aac':
    case 'mp4/aac':
      return { args: ['-c:a', 'aac', ...bitRate(128_000), '-movflags', '+faststart', '-f', 'mp4'], contentType: 'audio/mp4' };
    default:
      if (probe.format === 'wav') {
        return { args: ['-c:a', probe.codec.startsWith('pcm_') ? probe.codec : 'pcm_s16le', '-f', 'wav'], contentType: 'audio/wav' };
      }
      return { args: ['-c:a', 'flac', '-f', 'flac'], contentType: 'audio/flac' };
  }
}
