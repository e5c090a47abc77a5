/**
 * Audio for the browser tests, made and measured with the real ffmpeg: a speech-like signal for
 * Chromium's fake microphone, and the duration of a file measured by decoding every sample
 * (ffprobe reads a MediaRecorder WebM's length from its last timestamp, which hides holes).
 */
import { spawn, spawnSync } from 'node:child_process';

const DECODE_RATE = 48_000;

/**
 * A WAV for `--use-file-for-fake-audio-capture`: a voice-band tone under pink noise with a
 * syllable-like envelope, so the level meter moves and the waveform has shape.
 */
export function writeFakeMicrophoneWav(file: string, seconds = 20): void {
  const envelope = "0.15+0.85*pow(abs(sin(2*PI*t*1.3)),2)*(0.5+0.5*sin(2*PI*t*0.23))";
  const result = spawnSync(
    'ffmpeg',
    [
      '-v', 'error', '-y',
      '-f', 'lavfi', '-i', `sine=frequency=180:sample_rate=48000:duration=${seconds}`,
      '-f', 'lavfi', '-i', `anoisesrc=color=pink:amplitude=0.25:sample_rate=48000:duration=${seconds}`,
      '-filter_complex', `[0][1]amix=inputs=2:normalize=0,volume='${envelope}':eval=frame,volume=0.7`,
      '-ac', '1', '-ar', '48000', '-c:a', 'pcm_s16le', file,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`ffmpeg could not make the fake microphone signal: ${result.stderr}`);
}

/** Seconds of audio in `bytes`, counted from the decoded samples. */
export function decodedSeconds(bytes: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-v', 'error', '-i', 'pipe:0', '-f', 's16le', '-ac', '1', '-ar', String(DECODE_RATE), 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let samples = 0;
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => (samples += chunk.length / 2));
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(samples / DECODE_RATE) : reject(new Error(`ffmpeg could not decode: ${errors}`))));
    child.stdin.on('error', () => undefined);
    child.stdin.end(Buffer.from(bytes));
  });
}
