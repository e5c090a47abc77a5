/**
 * Automatic transcription in workerd: the `transcribe` job after processing (consent on and off),
 * sealing at rest, the search index, a service's PUT overriding the automatic transcript, the
 * Workers AI engine's mapping (the AI binding is outside this machine: a stand-in answers in
 * Whisper's documented shape), redaction, and deletion of transcript and index with the recording.
 */
import { env } from 'cloudflare:test';
import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { getConfig } from '../../src/config';
import { createDb } from '../../src/db/client';
import { base64ToBytes } from '../../src/encoding';
import { deleteExpiredTranscripts } from '../../src/db/lifecycle';
import { findRecording, type RecordingRow } from '../../src/db/recordings';
import { auditEvents, transcripts } from '../../src/db/schema';
import { uploadRaw as storeUpload } from '../../src/recordings/upload';
import { createBlobStore } from '../../src/storage/select';
import { segmentsFromWhisper } from '../../src/transcripts/workers-ai';
import { withoutSpan } from '../../src/transcripts/store';
import { transcribeRecording } from '../../src/transcripts/transcribe-recording';
import { settleAudit } from '../support/audit';
import { API_KEY, as, call } from '../support/auth';
import { sineWav } from '../support/audio';
import { deliverMediaJob, keepingQueue } from '../support/media-queue';
import { fields, uploadServiceDeps } from '../support/recordings';

const config = getConfig(env);
const db = createDb(env.DB);
const store = createBlobStore(env, config);

async function storeRecording(owner: string): Promise<string> {
  const { queue } = keepingQueue();
  return (await storeUpload(uploadServiceDeps(db, store, config, queue), owner, fields, new Response(sineWav(3, 440, 16000)).body!)).id;
}

async function row(id: string): Promise<RecordingRow> {
  const found = await findRecording(db, id);
  if (!found) throw new Error(`no recording ${id}`);
  return found;
}

/** A stored recording processed by the real FFmpeg worker; returns what the consumer queued after it. */
async function processed(owner: string): Promise<{ id: string; sent: unknown[] }> {
  const id = await storeRecording(owner);
  const { acked, sent } = await deliverMediaJob({ type: 'process', recordingId: id });
  expect(acked).toBe(true);
  expect((await row(id)).status).toBe('ready');
  return { id, sent };
}

const consent = async (user: string, transcription: boolean) =>
  call('/api/v1/gdpr/consent', { method: 'PUT', headers: { ...(await as(user)), 'content-type': 'application/json' }, body: JSON.stringify({ recording: true, transcription }) });

const put = (id: string, body: unknown) =>
  call(`/api/v1/recordings/${id}/transcript`, { method: 'PUT', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify(body) });

const getTranscript = async (id: string, user: string) => call(`/api/v1/recordings/${id}/transcript`, { headers: await as(user) });

const search = async (q: string, user: string, role?: 'admin' | 'auditor') => call(`/api/v1/recordings?q=${encodeURIComponent(q)}`, { headers: await as(user, role) });
const foundIds = async (res: Response) => ((await res.json()) as { items: { id: string }[] }).items.map((r) => r.id);

const termCount = async (id: string) => (await env.DB.prepare('select count(*) as n from transcript_terms where recording_id = ?').bind(id).first<{ n: number }>())!.n;
const rawRow = (id: string) => db.select().from(transcripts).where(eq(transcripts.recordingId, id)).get();

describe('the transcribe job', () => {
  it('is queued after processing when the owner consents, and not at all when they do not', async () => {
    const yes = await processed('tx-consenting');
    expect(yes.sent).toContainEqual({ type: 'transcribe', recordingId: yes.id });
    await consent('tx-refusing', false);
    const no = await processed('tx-refusing');
    expect(no.sent.some((m) => (m as { type?: string }).type === 'transcribe')).toBe(false);
  }, 180_000);

  it('stores a sealed automatic transcript through the FFmpeg worker, audits it, and does nothing when run again', async () => {
    const { id } = await processed('tx-auto');
    const first = await deliverMediaJob({ type: 'transcribe', recordingId: id });
    expect(first.acked).toBe(true);
    const stored = await rawRow(id);
    expect(stored).toMatchObject({ source: 'automatic', engine: 'ffmpeg-pocketsphinx', audioObjectKey: (await row(id)).objectKey, text: '', segments: [] });
    expect(stored!.sealed!.byteLength).toBeGreaterThan(56 + 16);
    const res = await getTranscript(id, 'tx-auto');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { recordingId: string; language: string; segments: { start: number; end: number; speaker: null }[] };
    expect(body).toMatchObject({ recordingId: id, language: 'en', source: 'automatic', engine: 'ffmpeg-pocketsphinx' });
    for (const segment of body.segments) expect(segment.end).toBeLessThanOrEqual(3);
    await settleAudit();
    const events = await db.select().from(auditEvents).where(and(eq(auditEvents.recordingId, id), eq(auditEvents.action, 'transcript.automatic'))).all();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: 'system:media', outcome: 'success' });
    await deliverMediaJob({ type: 'transcribe', recordingId: id });
    expect((await rawRow(id))!.updatedAt).toBe(stored!.updatedAt);
  });

  it('does not transcribe when consent was withdrawn after processing', async () => {
    const { id } = await processed('tx-withdrawn');
    await consent('tx-withdrawn', false);
    expect((await deliverMediaJob({ type: 'transcribe', recordingId: id })).acked).toBe(true);
    expect(await rawRow(id)).toBeUndefined();
  });

  it('never replaces a transcript a service PUT, and a PUT replaces an automatic one', async () => {
    const { id } = await processed('tx-override');
    await deliverMediaJob({ type: 'transcribe', recordingId: id });
    expect((await rawRow(id))!.source).toBe('automatic');
    const mine = { language: 'en', text: 'The invoice is paid.', segments: [{ start: 0, end: 2, speaker: 'agent', text: 'The invoice is paid.' }] };
    expect((await put(id, mine)).status).toBe(200);
    await env.DB.prepare("update transcripts set audio_object_key = 'stale' where recording_id = ?").bind(id).run();
    await deliverMediaJob({ type: 'transcribe', recordingId: id });
    expect(await (await getTranscript(id, 'tx-override')).json()).toEqual({ recordingId: id, ...mine, source: 'service', engine: null });
    expect((await rawRow(id))!.source).toBe('service');
  });
});

describe('transcripts at rest and in search', () => {
  const secret = { language: 'en', text: 'Project zanzibar merger is confidential.', segments: [{ start: 0.5, end: 2.5, speaker: null, text: 'Project zanzibar merger is confidential.' }] };
  let mine: string;
  let theirs: string;

  beforeAll(async () => {
    mine = await storeRecording('searcher');
    theirs = await storeRecording('other-caller');
    expect((await put(mine, secret)).status).toBe(200);
    expect((await put(theirs, { ...secret, text: 'zanzibar holiday plans', segments: [] })).status).toBe(200);
  });

  it('keeps no word of a transcript in clear in D1: not in the row, not in the index', async () => {
    const dump = JSON.stringify(await env.DB.prepare('select * from transcripts where recording_id = ?').bind(mine).all()) + JSON.stringify(await env.DB.prepare('select * from transcript_terms').all());
    const sealed = new TextDecoder('latin1').decode((await rawRow(mine))!.sealed!);
    for (const word of ['zanzibar', 'merger', 'confidential']) {
      expect(dump.toLowerCase()).not.toContain(word);
      expect(sealed.toLowerCase()).not.toContain(word);
    }
    expect(await termCount(mine)).toBe(5);
  });

  it('finds the caller’s own recordings by words of their transcript, every word required, any case', async () => {
    expect(await foundIds(await search('ZANZIBAR', 'searcher'))).toEqual([mine]);
    expect(await foundIds(await search('merger zanzibar', 'searcher'))).toEqual([mine]);
    expect(await foundIds(await search('merger holiday', 'searcher'))).toEqual([]);
    expect(await foundIds(await search('zanzibar', 'other-caller'))).toEqual([theirs]);
  });

  it('finds what the caller was granted, everyone’s for an admin, and refuses auditors and empty queries', async () => {
    await call(`/api/v1/recordings/${theirs}/permissions`, { method: 'POST', headers: { ...(await as('other-caller')), 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'searcher' }) });
    expect((await foundIds(await search('zanzibar', 'searcher'))).sort()).toEqual([mine, theirs].sort());
    expect(await foundIds(await search('zanzibar', 'boss', 'admin'))).toEqual(expect.arrayContaining([mine, theirs]));
    const audited = await search('zanzibar', 'inspector', 'auditor');
    expect(audited.status).toBe(403);
    const empty = await search(' ?! ', 'searcher');
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { message: string } }).error.message).toMatch(/^q:/);
  });

  it('cannot be opened with another recording’s key or context', async () => {
    const stored = (await rawRow(mine))!;
    await env.DB.prepare('update transcripts set sealed = ? where recording_id = ?').bind((await rawRow(theirs))!.sealed, mine).run();
    const res = await getTranscript(mine, 'searcher');
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('integrity_error');
    await env.DB.prepare('update transcripts set sealed = ? where recording_id = ?').bind(stored.sealed, mine).run();
    expect((await getTranscript(mine, 'searcher')).status).toBe(200);
  });

  it('goes with its recording: DELETE removes the transcript and its index', async () => {
    const id = await storeRecording('deleter');
    expect((await put(id, secret)).status).toBe(200);
    expect(await termCount(id)).toBeGreaterThan(0);
    expect((await call(`/api/v1/recordings/${id}`, { method: 'DELETE', headers: await as('deleter') })).status).toBe(204);
    expect(await rawRow(id)).toBeUndefined();
    expect(await termCount(id)).toBe(0);
  });

  it('goes with transcript retention', async () => {
    const id = await storeRecording('retained-caller');
    expect((await put(id, secret)).status).toBe(200);
    await env.DB.prepare("update transcripts set created_at = '2000-01-01T00:00:00.000Z' where recording_id = ?").bind(id).run();
    expect(await deleteExpiredTranscripts(db, '2001-01-01T00:00:00.000Z', 100)).toBeGreaterThanOrEqual(1);
    expect(await rawRow(id)).toBeUndefined();
    expect(await termCount(id)).toBe(0);
  });

  it('goes with GDPR erasure', async () => {
    const id = await storeRecording('erased-caller');
    expect((await put(id, secret)).status).toBe(200);
    expect((await call('/api/v1/gdpr/data', { method: 'DELETE', headers: await as('erased-caller') })).status).toBe(200);
    expect(await rawRow(id)).toBeUndefined();
    expect(await termCount(id)).toBe(0);
  });
});

describe('redaction and transcripts', () => {
  it('drops the words of a redacted span (timed words exactly, untimed segments whole)', () => {
    const content = {
      language: 'en',
      text: 'my card is four two four two thank you',
      segments: [
        { start: 0, end: 3, speaker: null, text: 'my card is four two', words: [{ start: 0, end: 0.4, text: 'my' }, { start: 0.5, end: 0.9, text: 'card' }, { start: 1, end: 1.2, text: 'is' }, { start: 1.5, end: 2, text: 'four' }, { start: 2.1, end: 2.6, text: 'two' }] },
        { start: 3.2, end: 4, speaker: null, text: 'four two' },
        { start: 5, end: 6, speaker: null, text: 'thank you' },
      ],
    };
    const redacted = withoutSpan(content, 1400, 4100);
    expect(redacted.segments.map((s) => s.text)).toEqual(['my card is', 'thank you']);
    expect(redacted.text).toBe('my card is thank you');
  });

  it('removes the span from the stored transcript and its index at once', async () => {
    const { id } = await processed('tx-redacted');
    const body = { language: 'en', text: 'hello secret code bye', segments: [{ start: 0, end: 0.9, speaker: null, text: 'hello' }, { start: 1, end: 2, speaker: null, text: 'secret code' }, { start: 2.5, end: 3, speaker: null, text: 'bye' }] };
    expect((await put(id, body)).status).toBe(200);
    const res = await call(`/api/v1/recordings/${id}/redactions`, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ startMs: 1000, endMs: 2000, reason: 'card number' }) });
    expect(res.status, await res.clone().text()).toBe(202);
    const after = (await (await getTranscript(id, 'tx-redacted')).json()) as { text: string; segments: { text: string }[] };
    expect(after.segments.map((s) => s.text)).toEqual(['hello', 'bye']);
    expect(after.text).toBe('hello bye');
    expect(await foundIds(await search('secret', 'tx-redacted'))).toEqual([]);
    expect(await foundIds(await search('hello', 'tx-redacted'))).toEqual([id]);
  });

  it('transcribes again from the redacted audio when the transcript is automatic', async () => {
    const { id } = await processed('tx-rerun');
    await deliverMediaJob({ type: 'transcribe', recordingId: id });
    const before = (await rawRow(id))!;
    const res = await call(`/api/v1/recordings/${id}/redactions`, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ startMs: 500, endMs: 1500, reason: 'pii' }) });
    expect(res.status).toBe(202);
    const { sent } = await deliverMediaJob({ type: 'process', recordingId: id });
    expect(sent).toContainEqual({ type: 'transcribe', recordingId: id });
    await deliverMediaJob({ type: 'transcribe', recordingId: id });
    const after = (await rawRow(id))!;
    expect(after.audioObjectKey).toBe((await row(id)).objectKey);
    expect(after.audioObjectKey).not.toBe(before.audioObjectKey);
  }, 240_000);
});

describe('the Workers AI engine', () => {
  const whisper = {
    text: ' Hello there. Call me back.',
    transcription_info: { language: 'en', duration: 3 },
    segments: [
      { start: 0.1, end: 1.2, text: ' Hello there.', words: [{ word: ' Hello', start: 0.1, end: 0.5 }, { word: ' there.', start: 0.6, end: 1.2 }] },
      { start: 1.5, end: 2.8, text: ' Call me back.', words: [{ word: ' Call', start: 1.5, end: 1.8 }] },
      { text: 'no times' },
    ],
  };

  it('maps Whisper’s segments and word times to the contract’s segments', () => {
    expect(segmentsFromWhisper(whisper)).toEqual([
      { start: 0.1, end: 1.2, speaker: null, text: 'Hello there.', words: [{ start: 0.1, end: 0.5, text: 'Hello' }, { start: 0.6, end: 1.2, text: 'there.' }] },
      { start: 1.5, end: 2.8, speaker: null, text: 'Call me back.', words: [{ start: 1.5, end: 1.8, text: 'Call' }] },
    ]);
  });

  it('sends the decrypted MP3 rendition as base64 and stores the mapped transcript', async () => {
    const { id } = await processed('tx-whisper');
    const calls: { model: string; input: { audio: unknown } }[] = [];
    const ai = { run: async (model: string, input: { audio: unknown }) => (calls.push({ model, input }), whisper) };
    const outcome = await transcribeRecording({ db, store, config: { ...config, TRANSCRIPTION_ENGINE: 'workers-ai' }, ffmpeg: env, ai: ai as never }, await row(id));
    expect(outcome).toMatchObject({ stored: true, engine: 'workers-ai-whisper-large-v3-turbo' });
    expect(calls).toHaveLength(1);
    const mp3 = base64ToBytes(calls[0]!.input.audio as string);
    // An ID3 tag or an MPEG frame sync: the MP3 rendition itself, decrypted.
    expect(String.fromCharCode(mp3[0]!, mp3[1]!, mp3[2]!) === 'ID3' || (mp3[0] === 0xff && (mp3[1]! & 0xe0) === 0xe0)).toBe(true);
    expect(mp3.length).toBeGreaterThan(10_000);
    const res = await getTranscript(id, 'tx-whisper');
    expect(await res.json()).toEqual({
      recordingId: id,
      language: 'en',
      text: 'Hello there. Call me back.',
      segments: [
        { start: 0.1, end: 1.2, speaker: null, text: 'Hello there.' },
        { start: 1.5, end: 2.8, speaker: null, text: 'Call me back.' },
      ],
      source: 'automatic',
      engine: 'workers-ai-whisper-large-v3-turbo',
    });
  });
});
