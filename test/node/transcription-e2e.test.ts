/**
 * Automatic transcription end to end, over real HTTP to `wrangler dev` with the local engine (the
 * FFmpeg server's PocketSphinx): a sentence spoken by espeak-ng is uploaded, transcribed by the
 * queue, readable with times inside the audio and words of the sentence, announced by the
 * `recording.transcribed` webhook and found by `?q=`; a service's PUT wins over it; an owner who
 * refused transcription gets none. The sentence is one PocketSphinx recognizes in part (bench/results.md:
 * "the box was probably the ah to rot"), so the test can ask for a shared content word, not only "the".
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodedSeconds } from '../e2e/audio';
import { startService, type Service } from '../e2e/service';
import { tokenFor } from '../live/wrangler-dev';
import { TEST_SECRETS } from '../support/secrets';

const exec = promisify(execFile);
const API_KEY = TEST_SECRETS.API_KEYS.split(',')[0]!;
const SENTENCE = 'The box was thrown beside the parked truck.';
const words = (text: string) => new Set(text.toLowerCase().match(/[a-z']+/g) ?? []);
/** Words that say nothing of what was heard: a transcript sharing only these with the sentence proves nothing. */
const STOPWORDS = new Set(['the', 'was', 'and', 'are', 'you', 'for', 'but', 'not', 'his', 'her', 'its', 'our', 'had', 'has', 'have', 'with', 'this', 'that', 'from', 'were', 'they', 'them', 'what', 'when', 'who']);
const contentWords = (text: string) => new Set([...words(text)].filter((w) => w.length >= 3 && !STOPWORDS.has(w)));

interface Transcript {
  recordingId: string;
  language: string;
  text: string;
  segments: { start: number; end: number; speaker: string | null; text: string }[];
  source: 'automatic' | 'service';
  engine: string | null;
}

let service: Service;
let receiver: Server;
const webhooks: { type: string; data: Record<string, unknown> }[] = [];
let scratch = '';
let speech: Uint8Array;
let speechSeconds = 0;
const state = { recordingId: '', transcript: null as Transcript | null };

async function api(pathname: string, init: RequestInit & { user?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.user) headers.set('authorization', `Bearer ${await tokenFor(init.user)}`);
  else headers.set('x-api-key', API_KEY);
  return fetch(`${service.url}/api/v1${pathname}`, { ...init, headers });
}

async function upload(userId: string, callId: string): Promise<string> {
  const query = new URLSearchParams({ callId, callerPhone: '+14155550100', receiverPhone: '+442071838750', startTime: new Date().toISOString(), userId });
  const res = await api(`/recordings?${query}`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: speech });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 150_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const statusOf = async (id: string) => ((await (await api(`/recordings/${id}`)).json()) as { status: string }).status;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'transcription-e2e-'));
  const wav = path.join(scratch, 'spoken.wav');
  await exec('espeak-ng', ['-v', 'en', '-s', '140', '-w', wav, SENTENCE]);
  speech = new Uint8Array(readFileSync(wav));
  speechSeconds = await decodedSeconds(speech);
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      webhooks.push(JSON.parse(body) as { type: string; data: Record<string, unknown> });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as { port: number };
  service = await startService({ verbose: process.env.TRANSCRIPTION_E2E_VERBOSE === '1', vars: { WEBHOOK_URL: `http://127.0.0.1:${port}/hooks` } });
}, 600_000);

afterAll(async () => {
  await service?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('automatic transcription through wrangler dev', () => {
  it('transcribes a spoken sentence: segments inside the audio, text sharing a content word with the sentence', async () => {
    state.recordingId = await upload('e2e-speaker', 'transcribed-call');
    const transcript = await waitFor('the transcript', async () => {
      const res = await api(`/recordings/${state.recordingId}/transcript`, { user: 'e2e-speaker' });
      return res.status === 200 ? ((await res.json()) as Transcript) : null;
    }).catch(async (error: Error) => {
      // What the queue did instead: the recording's audit events say.
      const audit = (await (await api(`/audit?recordingId=${state.recordingId}`)).json()) as { items: { action: string; details: unknown }[] };
      throw new Error(`${error.message}; audit: ${JSON.stringify(audit.items.map((e) => [e.action, e.details]))}`);
    });
    state.transcript = transcript;
    expect(transcript).toMatchObject({ recordingId: state.recordingId, language: 'en', source: 'automatic', engine: 'ffmpeg-pocketsphinx' });
    expect(transcript.segments.length).toBeGreaterThan(0);
    for (const segment of transcript.segments) {
      expect(segment.start).toBeGreaterThanOrEqual(0);
      expect(segment.end).toBeGreaterThanOrEqual(segment.start);
      expect(segment.end).toBeLessThanOrEqual(speechSeconds + 0.05);
      expect(segment.speaker).toBeNull();
    }
    const said = contentWords(SENTENCE);
    expect([...contentWords(transcript.text)].filter((w) => said.has(w)), `heard: ${transcript.text}`).not.toEqual([]);
  }, 240_000);

  it('announces it with a recording.transcribed webhook', async () => {
    expect(state.recordingId).not.toBe('');
    const event = await waitFor('the webhook', async () => webhooks.find((w) => w.type === 'recording.transcribed' && w.data.recordingId === state.recordingId) ?? null, 30_000);
    expect(event.data).toMatchObject({ userId: 'e2e-speaker', engine: 'ffmpeg-pocketsphinx', language: 'en' });
  });

  it('finds the recording by a word of its transcript, for its owner and not for someone else', async () => {
    const word = [...words(state.transcript?.text ?? '')].sort((a, b) => b.length - a.length)[0];
    expect(word).toBeTruthy();
    const mine = await api(`/recordings?q=${encodeURIComponent(word!)}`, { user: 'e2e-speaker' });
    expect(((await mine.json()) as { items: { id: string }[] }).items.map((r) => r.id)).toEqual([state.recordingId]);
    const theirs = await api(`/recordings?q=${encodeURIComponent(word!)}`, { user: 'e2e-stranger' });
    expect(((await theirs.json()) as { items: unknown[] }).items).toEqual([]);
  });

  it('a transcript PUT by a service replaces it and is what reads and search see', async () => {
    const body = { language: 'en', text: 'Corrected by the agent desk.', segments: [{ start: 0, end: 2, speaker: 'Agent', text: 'Corrected by the agent desk.' }] };
    const put = await api(`/recordings/${state.recordingId}/transcript`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(put.status).toBe(200);
    expect(await (await api(`/recordings/${state.recordingId}/transcript`)).json()).toEqual({ recordingId: state.recordingId, ...body, source: 'service', engine: null });
    const found = await api('/recordings?q=corrected%20desk', { user: 'e2e-speaker' });
    expect(((await found.json()) as { items: { id: string }[] }).items.map((r) => r.id)).toEqual([state.recordingId]);
  });

  it('does not transcribe for an owner who refused transcription', async () => {
    const consent = await api('/gdpr/consent', { method: 'PUT', user: 'e2e-silent', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ recording: true, transcription: false }) });
    expect(consent.status).toBe(200);
    const id = await upload('e2e-silent', 'untranscribed-call');
    await waitFor('processing', async () => ((await statusOf(id)) === 'ready' ? true : null));
    // The media job records its decision about the transcribe job in its `recording.processed`
    // event, written after that decision: once it is there, the job that could have queued one is over.
    const processed = await waitFor('the processed event', async () => {
      const audit = (await (await api(`/audit?recordingId=${id}&action=recording.processed`)).json()) as { items: { details: { transcription?: string } | null }[] };
      return audit.items[0] ?? null;
    });
    expect(processed.details?.transcription).toBe('no_consent');
    expect((await api(`/recordings/${id}/transcript`, { user: 'e2e-silent' })).status).toBe(404);
    const audit = (await (await api(`/audit?recordingId=${id}`)).json()) as { items: { action: string }[] };
    // Only this test's own read (a 404, audited): no transcription, no attempt, no retry, no deferral.
    expect(audit.items.map((e) => e.action).filter((a) => a.startsWith('transcript.') && a !== 'transcript.read')).toEqual([]);
    expect(webhooks.some((w) => w.type === 'recording.transcribed' && w.data.recordingId === id)).toBe(false);
  }, 240_000);
});
