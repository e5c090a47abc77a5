/**
 * The waveform image, made in the browser: the low rendition is decoded with Web Audio (an
 * OfflineAudioContext at 8 kHz resamples while decoding, which keeps memory small) into peaks,
 * and drawn on a canvas with the played part in the accent colour. No third-party service.
 */

const DECODE_RATE = 8_000;
const BUCKETS = 1_000;

/** Peak amplitude (0..1) per bucket, normalised so the loudest bucket is 1. */
export async function decodePeaks(encoded: ArrayBuffer, buckets = BUCKETS): Promise<Float32Array> {
  const context = new OfflineAudioContext({ numberOfChannels: 1, length: 1, sampleRate: DECODE_RATE });
  const audio = await context.decodeAudioData(encoded);
  const channels = Array.from({ length: audio.numberOfChannels }, (_, i) => audio.getChannelData(i));
  const peaks = new Float32Array(buckets);
  const perBucket = audio.length / buckets;
  let loudest = 0;
  for (let bucket = 0; bucket < buckets; bucket++) {
    const start = Math.floor(bucket * perBucket);
    const end = Math.max(start + 1, Math.floor((bucket + 1) * perBucket));
    let peak = 0;
    for (const data of channels) for (let i = start; i < end && i < data.length; i++) peak = Math.max(peak, Math.abs(data[i]!));
    peaks[bucket] = peak;
    loudest = Math.max(loudest, peak);
  }
  if (loudest > 0) for (let i = 0; i < buckets; i++) peaks[i] = peaks[i]! / loudest;
  return peaks;
}

/** Draw `peaks` across the canvas; `progress` (0..1) of it in the played colour. */
export function drawWaveform(canvas: HTMLCanvasElement, peaks: Float32Array, progress: number): void {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const context = canvas.getContext('2d');
  if (!context) return;
  const styles = getComputedStyle(canvas);
  const played = styles.getPropertyValue('--wave-played').trim() || '#0b57d0';
  const rest = styles.getPropertyValue('--wave-rest').trim() || '#8a94a6';
  context.clearRect(0, 0, width, height);
  const bar = Math.max(1, Math.round(2 * ratio));
  const gap = Math.max(1, Math.round(ratio));
  const middle = height / 2;
  const playedX = progress * width;
  for (let x = 0; x < width; x += bar + gap) {
    const bucket = Math.min(peaks.length - 1, Math.floor((x / width) * peaks.length));
    const amplitude = Math.max(ratio, peaks[bucket]! * (height / 2 - ratio));
    context.fillStyle = x < playedX ? played : rest;
    context.fillRect(x, middle - amplitude, bar, amplitude * 2);
  }
}
