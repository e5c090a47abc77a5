/** `/health`'s `ffmpeg` check (a deep check: admin token or API key) against the real FFmpeg worker (test/global-setup-ffmpeg.ts). */
import { env } from 'cloudflare:test';
import { describe, expect, inject, it } from 'vitest';
import { getConfig } from '../../src/config';
import { checkFfmpeg } from '../../src/media/ffmpeg-client';
import { API_KEY, call } from '../support/auth';
import { callWith } from '../support/recordings';

type Health = { status: string; checks: Record<'storage' | 'database' | 'queue' | 'ffmpeg', { status: string; message?: string }> };

describe('the ffmpeg health check', () => {
  it('probes the built-in sample on the real worker', async () => {
    await expect(checkFfmpeg(env, getConfig(env))).resolves.toBeUndefined();
  });

  it('reports ok on /health when the worker answers', async () => {
    const res = await call('/health', { headers: { 'x-api-key': API_KEY } });
    const body = (await res.json()) as Health;
    expect(res.status).toBe(200);
    expect(body.checks.ffmpeg.status).toBe('ok');
    expect(body.status).toBe('ok');
  });

  it('reports the worker down, and the service degraded, when it refuses our secret or is not running', async () => {
    for (const overrides of <Record<string, string>[]>[{ FFMPEG_SHARED_SECRET: 'not-the-ffmpeg-secret-0123' }, { FFMPEG_URL: inject('ffmpegDownUrl') }]) {
      const res = await callWith(overrides, '/health', { headers: { 'x-api-key': API_KEY } });
      const body = (await res.json()) as Health;
      expect(res.status).toBe(200);
      expect(body.checks.ffmpeg.status).toBe('down');
      expect(body.status).toBe('degraded');
    }
  });
});
