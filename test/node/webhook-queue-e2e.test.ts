/**
 * Webhooks through `wrangler dev`'s own queues to a real HTTP receiver on 127.0.0.1, with the retry
 * schedule shortened by settings (1 s delays, a 10.8 s window): a receiver that fails twice gets
 * the event on the third attempt while the upload's media job is stuck on an FFmpeg server that
 * never answers (webhooks have a queue of their own); a receiver that stays down for the whole
 * window leaves a dead letter an admin lists and replays, delivered with the same event id.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWranglerDev, tokenFor, type WranglerDev } from '../live/wrangler-dev.ts';
import { sineWav } from '../support/audio.ts';

const FIELDS = { callId: 'call-webhooks', callerPhone: '+14155550100', receiverPhone: '+442071838750', startTime: '2026-11-20T10:00:00Z' };
const OWNER = 'webhook-owner';

interface Delivery {
  id: string;
  type: string;
  data: Record<string, unknown>;
  status: number;
}

let dev: WranglerDev;
let receiver: Server;
let stuckFfmpeg: Server;
const stuckSockets = new Set<Socket>();
const deliveries: Delivery[] = [];
/** How the receiver answers an event: by default 200. */
let answer: (event: { type: string; data: Record<string, unknown> }, earlier: number) => number = () => 200;

const listen = (server: Server) => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));

beforeAll(async () => {
  receiver = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const event = JSON.parse(body) as { id: string; type: string; data: Record<string, unknown> };
      const status = answer(event, deliveries.filter((d) => d.id === event.id).length);
      deliveries.push({ id: event.id, type: event.type, data: event.data, status });
      response.writeHead(status).end();
    });
  });
  // Never answers a media job, so the job that calls it stays busy; /health's 1,644-byte probe gets a quick 503.
  stuckFfmpeg = createServer((request, response) => {
    if (request.headers['content-length'] === '1644') response.writeHead(503).end();
  });
  stuckFfmpeg.on('connection', (socket) => {
    stuckSockets.add(socket);
    socket.on('close', () => stuckSockets.delete(socket));
  });
  const [receiverUrl, ffmpegUrl] = await Promise.all([listen(receiver), listen(stuckFfmpeg)]);
  dev = await startWranglerDev({
    vars: {
      WEBHOOK_URL: `${receiverUrl}/hooks`,
      FFMPEG_URL: ffmpegUrl,
      WEBHOOK_RETRY_BASE_SECONDS: '1',
      WEBHOOK_RETRY_MAX_DELAY_SECONDS: '1',
      WEBHOOK_RETRY_HOURS: '0.003',
    },
  });
}, 180_000);

afterAll(async () => {
  await dev?.stop();
  for (const socket of stuckSockets) socket.destroy();
  await Promise.all([receiver, stuckFfmpeg].map((server) => new Promise((resolve) => server?.close(resolve))));
});

async function api(route: string, init: RequestInit = {}, as: { user: string; role?: 'admin' } = { user: OWNER }): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${await tokenFor(as.user, as.role)}`);
  return fetch(`${dev.url}/api/v1${route}`, { ...init, headers });
}

async function upload(): Promise<string> {
  const response = await api(`/recordings?${new URLSearchParams(FIELDS)}`, { method: 'POST', body: sineWav(1), headers: { 'content-type': 'audio/wav' } });
  expect(response.status, await response.clone().text()).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

const completedFor = (recordingId: string) => deliveries.filter((d) => d.type === 'recording.completed' && d.data.recordingId === recordingId);

interface DeadLetterJson {
  id: string;
  event: string;
  attempts: number;
  lastError: string;
  replayedAt: string | null;
  data: Record<string, unknown>;
}

describe('webhooks on a queue of their own', () => {
  it('a receiver that fails twice gets the event on the third attempt, same id, while the media job is stuck on FFmpeg', async () => {
    answer = (event, earlier) => (event.type === 'recording.completed' && earlier < 2 ? 503 : 200);
    const recordingId = await upload();
    await expect.poll(() => completedFor(recordingId).map((d) => d.status), { timeout: 30_000, interval: 200 }).toEqual([503, 503, 200]);
    expect(new Set(completedFor(recordingId).map((d) => d.id)).size).toBe(1);
    expect(stuckSockets.size).toBeGreaterThan(0);
    const row = (await (await api(`/recordings/${recordingId}`)).json()) as { status: string };
    expect(row.status).toBe('processing');
  });

  it('a receiver down for the whole window leaves a dead letter; the admin lists it and the replay delivers the same event id', async () => {
    let down = true;
    answer = (event) => (down && event.type === 'recording.completed' ? 500 : 200);
    const recordingId = await upload();
    const admin = { user: 'webhook-admin', role: 'admin' as const };
    const deadLetterFor = async () => {
      const response = await api('/webhooks/dead-letters?pending=true', {}, admin);
      expect(response.status).toBe(200);
      return ((await response.json()) as { items: DeadLetterJson[] }).items.find((item) => item.data.recordingId === recordingId);
    };
    await expect.poll(deadLetterFor, { timeout: 60_000, interval: 500 }).toMatchObject({ event: 'recording.completed', lastError: 'receiver answered 500', replayedAt: null });
    const deadLetter = (await deadLetterFor())!;
    expect(deadLetter.attempts).toBeGreaterThanOrEqual(2);
    const failed = completedFor(recordingId);
    expect(failed.every((d) => d.status === 500 && d.id === deadLetter.id)).toBe(true);

    expect((await api(`/webhooks/dead-letters/${deadLetter.id}/replay`, { method: 'POST' })).status).toBe(403);
    down = false;
    const replay = await api(`/webhooks/dead-letters/${deadLetter.id}/replay`, { method: 'POST' }, admin);
    expect(replay.status).toBe(202);
    expect(((await replay.json()) as DeadLetterJson).replayedAt).not.toBeNull();
    await expect.poll(() => completedFor(recordingId).at(-1), { timeout: 30_000, interval: 200 }).toMatchObject({ id: deadLetter.id, status: 200 });
    expect(await deadLetterFor()).toBeUndefined();
  });
});
