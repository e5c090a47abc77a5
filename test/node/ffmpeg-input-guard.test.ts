/**
 * The FFmpeg worker's own defence against crafted input, for both engines, without the Worker's
 * upload gate in front: HLS playlists and ffconcat scripts hidden behind an ID3 tag (or behind a
 * real MPEG frame header) that name a loopback HTTP server run here and a `file:` canary, sent to
 * every route that reads audio (/transcribe on the native engine; the wasm engine cannot
 * transcribe). The server must refuse them with a generic 422, read neither, and never quote
 * ffmpeg's diagnostics. And the ffmpeg/ffprobe processes it spawns get none of its environment
 * (which holds the shared secret) but PATH, seen from inside the children themselves.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFfmpegServer, type FfmpegServer } from '../support/ffmpeg-server.ts';

const exec = promisify(execFile);

/** An empty ID3v2.4 tag: what FFmpeg skips before it guesses the format of the rest. */
const EMPTY_ID3 = Buffer.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0]);
/** A valid MPEG-1 Layer III frame header: passes a sniffer that looks only at the first bytes. */
const FRAME_HEADER = Buffer.from([0xff, 0xfb, 0x90, 0x64]);

let dir = '';
let canary = '';
let canaryBytes: Buffer;
let trap: Server;
let trapUrl = '';
const trapRequests: string[] = [];

/** The crafted inputs, each naming the canary file and the trap server as segments. */
function craftedInputs(): Record<string, Buffer> {
  const hls = (segment: string) => `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2,\n${segment}\n#EXT-X-ENDLIST\n`;
  const ffconcat = (segment: string) => `ffconcat version 1.0\nfile '${segment}'\n`;
  return {
    'ID3 + HLS naming a file: canary': Buffer.concat([EMPTY_ID3, Buffer.from(hls(`file:${canary}`))]),
    'ID3 + HLS naming an http segment': Buffer.concat([EMPTY_ID3, Buffer.from(hls(`${trapUrl}/segment.mp3`))]),
    'ID3 + ffconcat naming a file: canary': Buffer.concat([EMPTY_ID3, Buffer.from(ffconcat(`file:${canary}`))]),
    'ID3 + ffconcat naming an http segment': Buffer.concat([EMPTY_ID3, Buffer.from(ffconcat(`${trapUrl}/segment.mp3`))]),
    'MPEG frame header + HLS naming the canary and the trap': Buffer.concat([FRAME_HEADER, Buffer.from(`\n${hls(`file:${canary}`)}#EXTINF:2,\n${trapUrl}/segment.mp3\n`)]),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ffmpeg-guard-'));
  // The canary: 2 s of a 1234 Hz tone in an MP3, a segment the HLS demuxer would accept.
  canary = path.join(dir, 'canary.mp3');
  await exec('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=1234:duration=2:sample_rate=8000', '-c:a', 'libmp3lame', '-b:a', '32k', canary]);
  canaryBytes = await readFile(canary);
  trap = createServer((req, res) => {
    trapRequests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(canaryBytes);
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  trapUrl = `http://127.0.0.1:${(trap.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => trap?.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each(['native', 'wasm'] as const)('the FFmpeg worker (%s engine) given crafted input', (engine) => {
  let server: FfmpegServer;

  beforeAll(async () => {
    server = await startFfmpegServer({ engine });
  });

  afterAll(async () => {
    await server?.stop();
  });

  const send = (route: string, body: Buffer) =>
    fetch(`${server.url}${route}`, { method: 'POST', body, headers: { authorization: `Bearer ${server.secret}`, 'content-type': 'audio/mpeg' } });

  it('refuses every crafted file on every route with a generic 422, reading neither the canary nor the trap', async () => {
    for (const [name, body] of Object.entries(craftedInputs())) {
      for (const route of ['/probe', '/transcode?profile=mp3', '/transcode?profile=high', '/redact?startMs=0&endMs=500', ...(engine === 'native' ? ['/transcribe'] : [])]) {
        const response = await send(route, body);
        const answer = await response.text();
        expect(response.status, `${name} on ${route}: ${answer}`).toBe(422);
        const { error } = JSON.parse(answer) as { error: { code: string; message: string } };
        expect(error.code).toBe('unprocessable');
        // Our words only: no path, no URL, no ffmpeg diagnostic.
        expect(error.message, `${name} on ${route}`).toMatch(/^(not a recognised audio format|not a readable audio file|the audio does not decode|ffmpeg could not process the audio|the file has no audio stream)$/);
      }
    }
    expect(trapRequests).toEqual([]);
  });

  it.runIf(engine === 'wasm')('answers /transcribe with 501 (no speech recognition in the wasm build), crafted input or not', async () => {
    for (const body of Object.values(craftedInputs())) {
      const response = await send('/transcribe', body);
      expect(response.status).toBe(501);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_implemented');
    }
    expect(trapRequests).toEqual([]);
  });

  it('still reads a real MP3 behind an ID3 tag, and what it makes is that audio, not the canary', async () => {
    const tagged = path.join(dir, `tagged-${engine}.mp3`);
    await exec('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1:sample_rate=8000', '-c:a', 'libmp3lame', '-b:a', '32k', '-id3v2_version', '3', '-metadata', `title=${canary}`, tagged]);
    const body = await readFile(tagged);
    expect(body.subarray(0, 3).toString()).toBe('ID3');
    const probe = await send('/probe', body);
    expect(probe.status).toBe(200);
    expect(await probe.json()).toMatchObject({ format: 'mp3', durationMs: expect.closeTo(1000, -2) });
    const transcoded = await send('/transcode?profile=mp3', body);
    expect(transcoded.status).toBe(200);
    expect(Number(transcoded.headers.get('x-duration-ms'))).toBeLessThan(1500);
    expect(trapRequests).toEqual([]);
  });
});

describe('the processes the native engine spawns', () => {
  let server: FfmpegServer;
  let wrappers = '';
  let dumps = '';

  beforeAll(async () => {
    // ffmpeg and ffprobe found first on PATH are scripts that copy their own environment, as the
    // kernel handed it to them (/proc/$$/environ), into a file, then become the real tool.
    wrappers = await mkdtemp(path.join(tmpdir(), 'ffmpeg-env-bin-'));
    dumps = await mkdtemp(path.join(tmpdir(), 'ffmpeg-env-dumps-'));
    for (const tool of ['ffmpeg', 'ffprobe']) {
      const real = (await exec('sh', ['-c', `command -v ${tool}`])).stdout.trim();
      const script = path.join(wrappers, tool);
      await writeFile(script, `#!/bin/sh\ncat /proc/$$/environ > '${dumps}/${tool}-'$$\nexec '${real}' "$@"\n`);
      await chmod(script, 0o755);
    }
    server = await startFfmpegServer({ engine: 'native', env: { PATH: `${wrappers}${path.delimiter}${process.env.PATH ?? ''}` } });
  });

  afterAll(async () => {
    await server?.stop();
    for (const scratch of [wrappers, dumps]) if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('hold neither the shared secret nor anything else of the server’s environment but PATH', async () => {
    const tone = path.join(dir, 'env-tone.wav');
    await exec('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1:sample_rate=16000', tone]);
    const body = await readFile(tone);
    for (const route of ['/probe', '/transcode?profile=mp3', '/transcribe']) {
      const response = await fetch(`${server.url}${route}`, { method: 'POST', body, headers: { authorization: `Bearer ${server.secret}`, 'content-type': 'audio/wav' } });
      expect(response.status, route).toBe(200);
      await response.arrayBuffer();
    }
    const files = await readdir(dumps);
    expect(files.some((name) => name.startsWith('ffmpeg-'))).toBe(true);
    expect(files.some((name) => name.startsWith('ffprobe-'))).toBe(true);
    for (const name of files) {
      const environment = (await readFile(path.join(dumps, name), 'utf8')).split('\0').filter(Boolean);
      expect(environment.join('\n'), name).not.toContain(server.secret);
      expect(environment.map((entry) => entry.slice(0, entry.indexOf('='))), name).toEqual(['PATH']);
    }
  });
});
