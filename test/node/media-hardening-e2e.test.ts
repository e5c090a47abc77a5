/**
 * Attacks on the media path over real HTTP to `wrangler dev` (one service for the file), with the
 * FFmpeg worker as a local process: crafted uploads that hide an HLS playlist or an ffconcat script
 * behind an ID3 tag or an MPEG frame header, naming a loopback server run here and a `file:` canary.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWranglerDev, tokenFor, type WranglerDev } from '../live/wrangler-dev.ts';
import { startFfmpegServer, type FfmpegServer } from '../support/ffmpeg-server.ts';

const exec = promisify(execFile);
const FIELDS = { callId: 'call-e2e', callerPhone: '+14155550100', receiverPhone: '+442071838750', startTime: '2026-11-20T10:00:00Z' };
const OWNER = 'media-attacker';
const EMPTY_ID3 = Buffer.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0]);
const FRAME_HEADER = Buffer.from([0xff, 0xfb, 0x90, 0x64]);

let dev: WranglerDev;
let ffmpeg: FfmpegServer;
let dir = '';
let canary = '';
let trap: Server;
let trapUrl = '';
const trapRequests: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'media-e2e-'));
  canary = path.join(dir, 'canary.mp3');
  await exec('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=1234:duration=2:sample_rate=8000', '-c:a', 'libmp3lame', '-b:a', '32k', canary]);
  const canaryBytes = await readFile(canary);
  trap = createServer((req, res) => {
    trapRequests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(canaryBytes);
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  trapUrl = `http://127.0.0.1:${(trap.address() as { port: number }).port}`;
  ffmpeg = await startFfmpegServer({ engine: 'native' });
  dev = await startWranglerDev({ vars: { FFMPEG_URL: ffmpeg.url } });
}, 420_000);

afterAll(async () => {
  await dev?.stop();
  await ffmpeg?.stop();
  await new Promise((resolve) => trap?.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function api(user: string, route: string, init: RequestInit = {}, role?: 'admin'): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${await tokenFor(user, role)}`);
  return fetch(`${dev.url}/api/v1${route}`, { ...init, headers });
}

function upload(user: string, body: Uint8Array, contentType = 'audio/mpeg'): Promise<Response> {
  return api(user, `/recordings?${new URLSearchParams(FIELDS)}`, { method: 'POST', body, headers: { 'content-type': contentType } });
}

interface RecordingJson {
  id: string;
  status: string;
  durationMs: number | null;
  failureReason: string | null;
  legalHold: boolean;
}

async function settled(user: string, id: string): Promise<RecordingJson> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const row = (await (await api(user, `/recordings/${id}`)).json()) as RecordingJson;
    if (row.status !== 'processing' && row.status !== 'uploaded') return row;
    if (Date.now() > deadline) throw new Error(`recording ${id} still ${row.status}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('crafted uploads that name other files or URLs', () => {
  const hls = (...segments: string[]) => `#EXTM3U\n#EXT-X-TARGETDURATION:10\n${segments.map((s) => `#EXTINF:2,\n${s}\n`).join('')}#EXT-X-ENDLIST\n`;
  const ffconcat = (...segments: string[]) => `ffconcat version 1.0\n${segments.map((s) => `file '${s}'\n`).join('')}`;

  it('refuses an ID3 tag followed by an HLS playlist or an ffconcat script at upload (415), storing nothing', async () => {
    const before = (await (await api(OWNER, '/recordings')).json()) as { items: unknown[] };
    for (const script of [hls(`file:${canary}`, `${trapUrl}/a.mp3`), ffconcat(`file:${canary}`, `${trapUrl}/b.mp3`)]) {
      const response = await upload(OWNER, Buffer.concat([EMPTY_ID3, Buffer.from(script)]));
      expect(response.status, await response.clone().text()).toBe(415);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
    }
    const after = (await (await api(OWNER, '/recordings')).json()) as { items: unknown[] };
    expect(after.items.length).toBe(before.items.length);
    expect(trapRequests).toEqual([]);
  });

  it('a playlist behind an MPEG frame header passes the gate but ends failed with a generic reason, the canary unread', async () => {
    const body = Buffer.concat([FRAME_HEADER, Buffer.from(`\n${hls(`file:${canary}`, `${trapUrl}/c.mp3`)}`)]);
    const response = await upload(OWNER, body);
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const row = await settled(OWNER, id);
    expect(row.status).toBe('failed');
    expect(row.failureReason).toBe('The audio could not be read as WAV, Ogg, WebM, MP3, M4A or FLAC audio');
    // No rendition was made (so none can hold the canary's audio), and the stream is the upload's own bytes.
    const stream = await api(OWNER, `/recordings/${id}/stream?quality=high`);
    expect(stream.headers.get('x-rendition')).toBe('original');
    expect(Buffer.from(await stream.arrayBuffer()).equals(body)).toBe(true);
    expect(trapRequests).toEqual([]);
  });
});

describe('DELETE raced against a legal hold over HTTP', () => {
  const RACES = 20;

  it(`never lets both succeed in ${RACES} races, and a held recording downloads intact`, async () => {
    const audio = Buffer.alloc(4000);
    audio.write('RIFF', 0);
    audio.write('WAVE', 8);
    for (let i = 12; i < audio.length; i++) audio[i] = (i * 31 + 7) & 0xff;
    const outcomes = { deleted: 0, held: 0 };
    for (let race = 0; race < RACES; race++) {
      const created = await upload(OWNER, audio, 'audio/wav');
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      const remove = () => api(OWNER, `/recordings/${id}`, { method: 'DELETE' });
      const hold = () => api('race-admin', `/lifecycle/${id}/legal-hold`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: `race ${race}` }) }, 'admin');
      const [deleted, held] = race % 2 === 0 ? await Promise.all([remove(), hold()]) : (await Promise.all([hold(), remove()])).reverse();
      const statuses = `race ${race}: DELETE ${deleted!.status}, hold ${held!.status}`;
      expect(deleted!.status === 204 && held!.status === 200, statuses).toBe(false);
      if (deleted!.status === 204) {
        expect(held!.status, statuses).toBe(404);
        expect((await api(OWNER, `/recordings/${id}`)).status).toBe(404);
        outcomes.deleted++;
      } else {
        expect([deleted!.status, held!.status], statuses).toEqual([409, 200]);
        const download = await api(OWNER, `/recordings/${id}/download`);
        expect(download.status).toBe(200);
        expect(Buffer.from(await download.arrayBuffer()).equals(audio)).toBe(true);
        outcomes.held++;
      }
    }
    expect(outcomes.deleted + outcomes.held).toBe(RACES);
  }, 300_000);
});

describe('redaction over HTTP', () => {
  it('serves redacted audio that plays, with the span silent, once the renditions are rebuilt under the new key', async () => {
    const source = path.join(dir, 'speech.wav');
    await exec('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3:sample_rate=16000', '-c:a', 'pcm_s16le', source]);
    const created = await upload(OWNER, await readFile(source), 'audio/wav');
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await settled(OWNER, id)).status).toBe('ready');
    const redacted = await api('redact-admin', `/recordings/${id}/redactions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ startMs: 1000, endMs: 2000, reason: 'card number' }) }, 'admin');
    expect(redacted.status, await redacted.clone().text()).toBe(202);
    expect((await settled(OWNER, id)).status).toBe('ready');
    for (const route of [`/recordings/${id}/download`, `/recordings/${id}/stream?quality=high`]) {
      const response = await api(OWNER, route);
      expect(response.status, route).toBe(200);
      const file = path.join(dir, `played-${id}-${route.includes('stream') ? 'high' : 'original'}`);
      await writeFile(file, Buffer.from(await response.arrayBuffer()));
      // Decodes whole, and the redacted second is digital silence while the rest is the tone.
      const level = async (start: number, end: number) => {
        const { stderr } = await exec('ffmpeg', ['-v', 'info', '-nostats', '-i', file, '-af', `atrim=start=${start}:end=${end},astats=measure_perchannel=none`, '-f', 'null', '-']);
        const value = /RMS level dB: (-?inf|-?[\d.]+)/.exec(stderr)?.[1] ?? 'missing';
        return value.endsWith('inf') ? -Infinity : Number(value);
      };
      expect(await level(1.1, 1.9), route).toBeLessThan(-60);
      expect(await level(0.1, 0.9), route).toBeGreaterThan(-30);
      expect(await level(2.1, 2.9), route).toBeGreaterThan(-30);
    }
  }, 300_000);
});
