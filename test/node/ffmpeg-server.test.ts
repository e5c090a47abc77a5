/**
 * The FFmpeg worker (containers/ffmpeg/server.mjs) over HTTP, the same suite for both engines,
 * each a real server process on 127.0.0.1. Fixtures are generated with ffmpeg into a temporary
 * directory, and every result is checked with ffprobe/ffmpeg measurements (astats, decoded PCM).
 * Needs ffmpeg and ffprobe on PATH for that, whichever engine the server runs.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFfmpegServer, type FfmpegServer } from '../support/ffmpeg-server.ts';

const exec = promisify(execFile);
let dir = '';
const file = (name: string) => path.join(dir, name);

/** Run the system ffmpeg; resolves with its stderr. */
async function ffmpeg(...args: string[]): Promise<string> {
  const { stderr } = await exec('ffmpeg', ['-hide_banner', '-nostdin', '-y', ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stderr;
}

interface Probed {
  format: { format_name: string; duration?: string };
  streams: { codec_name: string; codec_type: string; channels?: number; sample_rate?: string }[];
}

async function ffprobe(name: string): Promise<Probed> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', name]);
  return JSON.parse(stdout) as Probed;
}

/** RMS level (dBFS) of [startS, endS) of a file, all channels together, by ffmpeg's astats. */
async function rmsDb(name: string, startS: number, endS: number): Promise<number> {
  const log = await ffmpeg('-v', 'info', '-nostats', '-i', name, '-af', `atrim=start=${startS}:end=${endS},astats=measure_perchannel=none`, '-f', 'null', '-');
  const level = /RMS level dB: (-?inf|-?[\d.]+)/.exec(log)?.[1];
  if (level === undefined) throw new Error(`no RMS level in:\n${log}`);
  return level.endsWith('inf') ? -Infinity : Number(level);
}

/** The decoded samples of a mono file, 16-bit. */
async function pcm(name: string): Promise<Int16Array> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-i', name, '-f', 's16le', '-ac', '1', '-'], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  return new Int16Array(stdout.buffer, stdout.byteOffset, stdout.byteLength / 2);
}

/** Decodes the whole file and reports any error ffmpeg logs while doing so. */
async function decodeErrors(name: string): Promise<string> {
  return (await ffmpeg('-v', 'error', '-i', name, '-f', 'null', '-')).trim();
}

/** The fixtures: 3 s of a 440 Hz sine (amplitude 1/8, -21 dBFS RMS) in each format, and worse inputs. */
async function makeFixtures() {
  const sine = (rate: number, seconds = 3) => ['-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}:sample_rate=${rate}`];
  await ffmpeg(...sine(48_000), '-c:a', 'pcm_s16le', file('tone.wav'));
  await Promise.all([
    ffmpeg(...sine(8_000), '-c:a', 'pcm_s16le', file('tone-8k.wav')),
    ffmpeg(...sine(48_000), '-ac', '2', '-c:a', 'pcm_s16le', file('stereo.wav')),
    ffmpeg('-i', file('tone.wav'), '-c:a', 'libopus', '-b:a', '48k', file('tone.webm')),
    ffmpeg('-i', file('tone.wav'), '-c:a', 'libopus', file('tone.ogg')),
    ffmpeg('-i', file('tone.wav'), '-c:a', 'libmp3lame', '-b:a', '64k', file('tone.mp3')),
    ffmpeg('-i', file('tone.wav'), '-c:a', 'flac', file('tone.flac')),
    ffmpeg('-i', file('tone.wav'), '-c:a', 'aac', file('tone.m4a')),
    // A tone after 1 s of white noise at about -55 dBFS: a quiet line's hiss under a voice.
    ffmpeg('-f', 'lavfi', '-i', "aevalsrc='0.5*sin(2*PI*440*t)*gte(t,1)+0.003*(2*random(0)-1)':s=48000:d=3", '-c:a', 'pcm_s16le', file('noisy.wav')),
    // Ten minutes that take longer than the limits server's 1 s to denoise and encode.
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=600:sample_rate=16000', '-c:a', 'libmp3lame', '-b:a', '24k', file('long.mp3')),
  ]);
  // WebM written to a pipe has no Duration and no Cues, like MediaRecorder's.
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-i', file('tone.wav'), '-c:a', 'libopus', '-f', 'webm', 'pipe:1'], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
  await writeFile(file('streamed.webm'), stdout);
  const wav = await readFile(file('tone.wav'));
  const webm = await readFile(file('tone.webm'));
  await writeFile(file('random.bin'), Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919 + (i >> 3) * 104729) & 0xff)));
  await writeFile(file('text.txt'), 'This is not audio.\n'.repeat(500));
  await writeFile(file('header-only.wav'), wav.subarray(0, 44));
  await writeFile(file('truncated.webm'), webm.subarray(0, 300));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ffmpeg-server-test-'));
  await makeFixtures();
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each(['native', 'wasm'] as const)('the FFmpeg worker with the %s engine', (engine) => {
  let server: FfmpegServer;
  /** The same engine with small limits: 3 MB in, 1 s of processing. */
  let limited: FfmpegServer;

  beforeAll(async () => {
    [server, limited] = await Promise.all([
      startFfmpegServer({ engine }),
      startFfmpegServer({ engine, env: { MAX_INPUT_BYTES: '3000000', MAX_SECONDS: '1' } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), limited?.stop()]);
  });

  const send = async (target: FfmpegServer, route: string, body: BodyInit, headers: Record<string, string> = {}) =>
    fetch(`${target.url}${route}`, { method: 'POST', body, headers: { authorization: `Bearer ${target.secret}`, ...headers } });
  const post = async (route: string, fixture: string) => send(server, route, await readFile(file(fixture)));
  const saved = async (response: Response, name: string) => {
    await writeFile(file(name), Buffer.from(await response.arrayBuffer()));
    return file(name);
  };
  const errorOf = async (response: Response) => {
    expect(response.headers.get('content-type')).toContain('application/json');
    return ((await response.json()) as { error: { code: string; message: string } }).error;
  };

  it('answers /healthz without credentials and names its engine', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, engine });
  });

  it('refuses requests without the shared secret or with a wrong one (401 JSON)', async () => {
    const body = await readFile(file('tone.wav'));
    for (const authorization of [undefined, 'Bearer wrong-secret-0123456789', `Basic ${server.secret}`, `Bearer ${server.secret}x`]) {
      const response = await fetch(`${server.url}/probe`, { method: 'POST', body, headers: authorization ? { authorization } : {} });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
      expect((await errorOf(response)).code).toBe('unauthorized');
    }
  });

  it('answers bad parameters, routes and methods with JSON errors before reading the audio', async () => {
    const cases: [string, string, number, string][] = [
      ['POST', '/transcode?profile=flac', 400, 'invalid_request'],
      ['POST', '/transcode?denoise=yes', 400, 'invalid_request'],
      ['POST', '/redact?startMs=2000&endMs=1000', 400, 'invalid_request'],
      ['POST', '/redact?startMs=-5&endMs=1000', 400, 'invalid_request'],
      ['GET', '/probe', 405, 'method_not_allowed'],
      ['POST', '/nothing-here', 404, 'not_found'],
    ];
    for (const [method, route, status, code] of cases) {
      const response = await fetch(`${server.url}${route}`, {
        method,
        body: method === 'POST' ? new Uint8Array(1000) : undefined,
        headers: { authorization: `Bearer ${server.secret}` },
      });
      expect(response.status, route).toBe(status);
      expect((await errorOf(response)).code).toBe(code);
    }
  });

  it.each([
    ['tone.wav', 'wav', 'pcm_s16le'],
    ['tone.ogg', 'ogg', 'opus'],
    ['tone.mp3', 'mp3', 'mp3'],
    ['tone.webm', 'webm', 'opus'],
    ['tone.flac', 'flac', 'flac'],
    ['tone.m4a', 'm4a', 'aac'],
  ])('probes %s: format, codec, channels, rate, and the duration within 50 ms', async (fixture, format, codec) => {
    const response = await post('/probe', fixture);
    expect(response.status).toBe(200);
    const probe = (await response.json()) as Record<string, unknown>;
    expect(probe).toMatchObject({ format, codec, channels: 1, sampleRate: 48_000 });
    expect(Math.abs((probe.durationMs as number) - 3000)).toBeLessThanOrEqual(50);
    expect(probe.bitRate).toBeGreaterThan(0);
  });

  it('measures a WebM without a header duration (as MediaRecorder writes it) by decoding it', async () => {
    const response = await post('/probe', 'streamed.webm');
    expect(response.status).toBe(200);
    const probe = (await response.json()) as { format: string; durationMs: number };
    expect(probe.format).toBe('webm');
    expect(Math.abs(probe.durationMs - 3000)).toBeLessThanOrEqual(50);
  });

  it.each([
    ['high', 'matroska,webm', 'opus', 2, 'audio/webm'],
    ['low', 'matroska,webm', 'opus', 1, 'audio/webm'],
    ['mp3', 'mp3', 'mp3', 2, 'audio/mpeg'],
  ] as const)('transcodes to %s: decodable, the right codec, the same duration (±60 ms)', async (profile, formatName, codec, channels, contentType) => {
    const response = await post(`/transcode?profile=${profile}`, 'stereo.wav');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(contentType);
    expect(Math.abs(Number(response.headers.get('x-duration-ms')) - 3000)).toBeLessThanOrEqual(60);
    const output = await saved(response, `${engine}-${profile}.out`);
    const probed = await ffprobe(output);
    expect(probed.format.format_name).toBe(formatName);
    expect(probed.streams).toHaveLength(1);
    expect(probed.streams[0]).toMatchObject({ codec_type: 'audio', codec_name: codec, channels });
    expect(Math.abs(Number(probed.format.duration) * 1000 - 3000)).toBeLessThanOrEqual(60);
    expect((await pcm(output)).length / 48).toBeCloseTo(3000, -2);
    expect(await decodeErrors(output)).toBe('');
  });

  it('denoise=1 lowers the noise floor of a tone-plus-noise input and keeps the tone (astats)', async () => {
    const plain = await saved(await post('/transcode?profile=high&denoise=0', 'noisy.wav'), `${engine}-plain.webm`);
    const denoised = await saved(await post('/transcode?profile=high&denoise=1', 'noisy.wav'), `${engine}-denoised.webm`);
    const [noiseBefore, noiseAfter, toneBefore, toneAfter] = await Promise.all([
      rmsDb(plain, 0.3, 0.9),
      rmsDb(denoised, 0.3, 0.9),
      rmsDb(plain, 1.5, 2.8),
      rmsDb(denoised, 1.5, 2.8),
    ]);
    expect(noiseBefore).toBeGreaterThan(-60);
    expect(noiseAfter).toBeLessThan(noiseBefore - 6);
    expect(Math.abs(toneAfter - toneBefore)).toBeLessThan(1);
  });

  it.each([
    ['tone.wav', 48_000],
    ['tone-8k.wav', 8_000],
  ])('redacts a span of %s to digital silence, sample-accurate, everything else unchanged', async (fixture, rate) => {
    const [startMs, endMs] = [1000.4, 1500.7];
    const response = await post(`/redact?startMs=${startMs}&endMs=${endMs}`, fixture);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('audio/wav');
    expect(response.headers.get('x-duration-ms')).toBe('3000');
    const output = await saved(response, `${engine}-redacted-${rate}.wav`);
    const probed = await ffprobe(output);
    expect(probed.streams[0]).toMatchObject({ codec_name: 'pcm_s16le', sample_rate: String(rate), channels: 1 });
    expect(Number(probed.format.duration)).toBeCloseTo(3, 6);

    expect(await rmsDb(output, 1.01, 1.49)).toBe(-Infinity);
    expect(await rmsDb(output, 0.2, 0.9)).toBeCloseTo(-21, 0);
    expect(await rmsDb(output, 1.6, 2.9)).toBeCloseTo(-21, 0);

    const [original, redacted] = await Promise.all([pcm(file(fixture)), pcm(output)]);
    expect(redacted.length).toBe(original.length);
    const start = Math.round((startMs * rate) / 1000);
    const end = Math.round((endMs * rate) / 1000);
    expect(redacted.subarray(start, end).every((sample) => sample === 0)).toBe(true);
    // The silent run around the span ends within 1 ms of each edge (the sine itself crosses zero).
    let first = start;
    while (first > 0 && redacted[first - 1] === 0) first--;
    let last = end;
    while (last < redacted.length && redacted[last] === 0) last++;
    expect(start - first).toBeLessThanOrEqual(rate / 1000);
    expect(last - end).toBeLessThanOrEqual(rate / 1000);
    expect(redacted.subarray(0, start)).toEqual(original.subarray(0, start));
    expect(redacted.subarray(end)).toEqual(original.subarray(end));
  });

  it('redacts a WebM (Opus) into Opus WebM: the span silent, the rest as loud, the duration kept', async () => {
    const response = await post('/redact?startMs=1000&endMs=1500', 'tone.webm');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('audio/webm');
    expect(Math.abs(Number(response.headers.get('x-duration-ms')) - 3000)).toBeLessThanOrEqual(60);
    const output = await saved(response, `${engine}-redacted.webm`);
    const probed = await ffprobe(output);
    expect(probed.format.format_name).toBe('matroska,webm');
    expect(probed.streams[0]?.codec_name).toBe('opus');
    expect(Math.abs(Number(probed.format.duration) * 1000 - 3000)).toBeLessThanOrEqual(60);
    // A lossy codec rings for a few milliseconds at an abrupt edge: measure inside them.
    expect(await rmsDb(output, 1.02, 1.48)).toBeLessThan(-60);
    expect(await rmsDb(output, 0.2, 0.9)).toBeCloseTo(-21, 0);
    expect(await rmsDb(output, 1.6, 2.9)).toBeCloseTo(-21, 0);
  });

  it.each([
    ['random.bin', ['/probe', '/transcode?profile=high', '/redact?startMs=0&endMs=100']],
    ['text.txt', ['/probe', '/transcode?profile=mp3']],
    ['header-only.wav', ['/probe', '/transcode?profile=low', '/redact?startMs=0&endMs=100']],
    ['truncated.webm', ['/probe', '/transcode?profile=high', '/redact?startMs=0&endMs=100']],
  ])('answers %s with 422 JSON within 5 s', async (fixture, routes) => {
    for (const route of routes) {
      const started = performance.now();
      const response = await post(route, fixture);
      expect(response.status, route).toBe(422);
      const error = await errorOf(response);
      expect(error.code).toBe('unprocessable');
      expect(error.message).not.toMatch(/\/tmp|at .*\.mjs/);
      expect(performance.now() - started).toBeLessThan(5000);
    }
  });

  it('refuses an input over MAX_INPUT_BYTES with 413, declared or streamed', async () => {
    const declared = await send(limited, '/probe', new Uint8Array(3_500_000));
    expect(declared.status).toBe(413);
    expect((await errorOf(declared)).code).toBe('payload_too_large');

    let chunks = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (chunks++ < 64) controller.enqueue(new Uint8Array(64 * 1024));
        else controller.close();
      },
    });
    const streamed = await fetch(`${limited.url}/probe`, {
      method: 'POST',
      body: stream,
      headers: { authorization: `Bearer ${limited.secret}` },
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await errorOf(streamed)).code).toBe('payload_too_large');
    expect((await fetch(`${limited.url}/healthz`)).status).toBe(200);
  });

  it('stops a job over MAX_SECONDS with 504 JSON, ends its ffmpeg, and keeps serving', async () => {
    const started = performance.now();
    const response = await send(limited, '/transcode?profile=high&denoise=1', await readFile(file('long.mp3')));
    expect(response.status).toBe(504);
    expect((await errorOf(response)).code).toBe('timeout');
    expect(performance.now() - started).toBeLessThan(5000);

    // Nothing of the job is left running: no ffmpeg child (native), and the next job gets the engine (wasm).
    const { stdout } = await exec('ps', ['--ppid', String(limited.pid), '-o', 'comm=']).catch(() => ({ stdout: '' }));
    expect(stdout).not.toMatch(/ffmpeg|ffprobe/);
    const next = await send(limited, '/probe', await readFile(file('tone.wav')));
    expect(next.status).toBe(200);
    expect(((await next.json()) as { durationMs: number }).durationMs).toBe(3000);
  });
});
