/**
 * The FFmpeg worker's /transcribe (the `asr` filter, PocketSphinx) over HTTP: a sentence spoken by
 * espeak-ng comes back as utterances inside the audio's time that share words with it; the
 * WebAssembly engine and a server without the model say clearly that they cannot transcribe.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readUtterances } from '../../containers/ffmpeg/speech.mjs';
import { startFfmpegServer, type FfmpegServer } from '../support/ffmpeg-server.ts';

const exec = promisify(execFile);
const SENTENCE = 'Hello, this is a test of the call recorder. The meeting is at ten o clock.';
const words = (text: string) => new Set(text.toLowerCase().match(/[a-z']+/g) ?? []);

let dir = '';
let native: FfmpegServer;
let wasm: FfmpegServer;
let modelless: FfmpegServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ffmpeg-transcribe-test-'));
  await exec('espeak-ng', ['-v', 'en', '-s', '140', '-w', path.join(dir, 'spoken.wav'), SENTENCE]);
  [native, wasm, modelless] = await Promise.all([
    startFfmpegServer({ engine: 'native' }),
    startFfmpegServer({ engine: 'wasm' }),
    startFfmpegServer({ engine: 'native', env: { ASR_MODEL_DIR: path.join(dir, 'no-model') } }),
  ]);
});

afterAll(async () => {
  await Promise.all([native?.stop(), wasm?.stop(), modelless?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const transcribe = async (server: FfmpegServer, body: BodyInit) =>
  fetch(`${server.url}/transcribe`, { method: 'POST', body, headers: { authorization: `Bearer ${server.secret}`, 'content-type': 'audio/wav' } });

describe('POST /transcribe', () => {
  it('returns utterances of a spoken sentence with times inside the audio and words from the sentence', async () => {
    const response = await transcribe(native, await readFile(path.join(dir, 'spoken.wav')));
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { engine: string; language: string; durationMs: number; utterances: { start: number; end: number; text: string }[] };
    expect(answer.engine).toBe('pocketsphinx');
    expect(answer.language).toBe('en');
    expect(answer.utterances.length).toBeGreaterThan(0);
    for (const u of answer.utterances) {
      expect(u.start).toBeGreaterThanOrEqual(0);
      expect(u.end).toBeGreaterThanOrEqual(u.start);
      expect(u.end * 1000).toBeLessThanOrEqual(answer.durationMs + 1);
      expect(u.text.trim()).not.toBe('');
    }
    const said = words(SENTENCE);
    const heard = answer.utterances.flatMap((u) => [...words(u.text)]);
    expect(heard.filter((w) => said.has(w)).length).toBeGreaterThanOrEqual(2);
  });

  it('answers 422 for a body that is not audio', async () => {
    const response = await transcribe(native, 'This is not audio.\n'.repeat(200));
    expect(response.status).toBe(422);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unprocessable');
  });

  it('answers 501 from the WebAssembly engine, which has no asr filter', async () => {
    const response = await transcribe(wasm, await readFile(path.join(dir, 'spoken.wav')));
    expect(response.status).toBe(501);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('not_implemented');
    expect(error.message).toMatch(/WebAssembly engine cannot transcribe/);
  });

  it('answers 501 when the speech model is not installed', async () => {
    const response = await transcribe(modelless, await readFile(path.join(dir, 'spoken.wav')));
    expect(response.status).toBe(501);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/no speech model/);
  });

  it('refuses a request without the shared secret (401)', async () => {
    const response = await fetch(`${native.url}/transcribe`, { method: 'POST', body: 'x' });
    expect(response.status).toBe(401);
  });
});

describe('reading the asr filter graph output', () => {
  it('takes an utterance from the end of the silence before it to the start of the silence after it', () => {
    const printed = [
      'frame:10 pts:8000 pts_time:0.5',
      'lavfi.silence_start=0',
      'lavfi.silence_end=0.4',
      'frame:50 pts:40000 pts_time:2.5',
      'lavfi.silence_start=2.1',
      'lavfi.silence_end=2.9',
      'frame:60 pts:48000 pts_time:3.0',
      'lavfi.asr.text=hello there',
      'frame:90 pts:72000 pts_time:4.6',
      'lavfi.silence_start=4.2',
      'frame:99 pts:80000 pts_time:5.9',
      'lavfi.asr.text=good bye',
    ].join('\n');
    expect(readUtterances(printed, 5)).toEqual([
      { start: 0.4, end: 2.1, text: 'hello there' },
      { start: 2.9, end: 4.2, text: 'good bye' },
    ]);
  });

  it('clamps times to the audio (the padding after it is not speech)', () => {
    expect(readUtterances('frame:1 pts:1 pts_time:6.5\nlavfi.asr.text=late words', 5)).toEqual([{ start: 0, end: 5, text: 'late words' }]);
  });
});
