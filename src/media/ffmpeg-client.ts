/**
 * How the Worker reaches the FFmpeg server: through the FfmpegContainer binding in production,
 * or by URL (`FFMPEG_URL`) where containers cannot run (local dev and tests, no Docker). Both
 * paths send the same authenticated HTTP request; only the transport differs.
 */
import { getRandom } from '@cloudflare/containers';
import type { Config } from '../config';
import { AppError } from '../errors';

const CONTAINER_INSTANCES = 4;

export interface FfmpegBindings {
  FFMPEG_CONTAINER: DurableObjectNamespace;
}

/** Send `path` to the FFmpeg server with the shared secret. */
export async function ffmpegFetch(env: FfmpegBindings, config: Config, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${config.FFMPEG_SHARED_SECRET}`);
  if (config.FFMPEG_URL) return fetch(new URL(path, config.FFMPEG_URL), { ...init, headers });
  const stub = await getRandom(env.FFMPEG_CONTAINER as unknown as Parameters<typeof getRandom>[0], CONTAINER_INSTANCES);
  return stub.fetch(new Request(new URL(path, 'http://ffmpeg.container'), { ...init, headers }));
}

/**
 * A 100 ms, 8 kHz mono, 16-bit silent WAV (1,644 bytes), built in memory: what `/health` asks
 * the server to probe.
 */
export function tinyWav(): Uint8Array {
  const samples = 800;
  const buffer = new ArrayBuffer(44 + samples * 2);
  const view = new DataView(buffer);
  const ascii = (offset: number, s: string) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + samples * 2, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, 8000, true);
  view.setUint32(28, 16000, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, samples * 2, true);
  return new Uint8Array(buffer);
}

/** Probe the tiny sample; throws when the server is unreachable or answers wrongly. */
export async function checkFfmpeg(env: FfmpegBindings, config: Config): Promise<void> {
  const response = await ffmpegFetch(env, config, '/probe', {
    method: 'POST',
    body: tinyWav(),
    headers: { 'content-type': 'audio/wav' },
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new AppError('service_unavailable', `FFmpeg worker answered ${response.status}`);
  const probe = (await response.json()) as { durationMs?: number };
  if (typeof probe.durationMs !== 'number') throw new AppError('service_unavailable', 'FFmpeg worker gave no duration');
}
