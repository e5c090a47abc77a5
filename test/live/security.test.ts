import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { drizzle } from 'drizzle-orm/d1';
import { PacketType } from 'socket.io-parser';
import { describe, expect, it } from 'vitest';
import { destroyUserKeys } from '../../src/crypto/keys';
import { QUEUE_LIMITS } from '../../src/live/connection';
import { as, call, tokenFor } from '../support/auth';
import { equalBytes } from '../support/recordings';
import { MAGIC, audio, concat, download, openPlain, openPlainWith, openSocketIo, recording, stubFor } from './client';
import { settleAudit } from '../support/audit';

const PATTERN = new TextEncoder().encode('KNOWN-PLAINTEXT-PATTERN-0123456789abcdef');

/** A frame of `size` bytes made of the pattern (the first frame of a call starts with WebM's magic). */
function patterned(size: number, first = false): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = PATTERN[i % PATTERN.length]!;
  if (first) out.set(MAGIC.webm);
  return out;
}

/** An ID3v2.4 tag header announcing `size` bytes of tag (syncsafe), followed by those bytes. */
function id3Tag(size: number): Uint8Array {
  const tag = new Uint8Array(10 + size);
  tag.set([0x49, 0x44, 0x33, 4, 0, 0, (size >> 21) & 0x7f, (size >> 14) & 0x7f, (size >> 7) & 0x7f, size & 0x7f]);
  return tag;
}

/** An MPEG-1 Layer III frame header (128 kbit/s, 44.1 kHz). */
const MPEG_FRAME = new Uint8Array([0xff, 0xfb, 0x90, 0x64]);

/** True when any 16-byte window of the pattern occurs in `bytes`. */
function holdsPattern(bytes: Uint8Array): boolean {
  for (let shift = 0; shift < PATTERN.length; shift++) {
    const needle = Array.from({ length: 16 }, (_, i) => PATTERN[(shift + i) % PATTERN.length]!);
    outer: for (let at = 0; at + 16 <= bytes.length; at++) {
      for (let i = 0; i < 16; i++) if (bytes[at + i] !== needle[i]) continue outer;
      return true;
    }
  }
  return false;
}

/** Every value of every table of the call object's SQLite, as bytes. */
async function storedValues(user: string, callId: string): Promise<{ table: string; bytes: Uint8Array }[]> {
  return runInDurableObject(stubFor(user, callId), (_instance, state) => {
    const tables = state.storage.sql.exec("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '_cf_%'").toArray();
    const out: { table: string; bytes: Uint8Array }[] = [];
    for (const { name } of tables) {
      for (const row of state.storage.sql.exec(`select * from "${String(name)}"`).toArray()) {
        for (const value of Object.values(row)) {
          if (value instanceof ArrayBuffer) out.push({ table: String(name), bytes: new Uint8Array(value) });
          else if (typeof value === 'string') out.push({ table: String(name), bytes: new TextEncoder().encode(value) });
        }
      }
    }
    return out;
  });
}

describe('live recording: nothing at rest in clear, and who may record', () => {
  it('stores no plaintext of a call in the call object, in order, early or sealed', async () => {
    const client = await openPlain('sec-rest');
    const started = await client.start('call-rest');
    // In order (short of a 16 KiB chunk, so it waits in `stream`), then beyond a hole (it waits in `buffered`).
    const frames = Array.from({ length: 6 }, (_, i) => patterned(120 + i, i === 0));
    for (const sequence of [0, 1, 2, 4, 5]) await client.chunk(sequence, frames[sequence]!);
    let values = await storedValues('sec-rest', 'call-rest');
    expect(values.some((v) => v.table === 'stream')).toBe(true);
    expect(values.some((v) => v.table === 'buffered')).toBe(true);
    expect(values.filter((v) => holdsPattern(v.bytes)).map((v) => v.table)).toEqual([]);
    // The hole fills; then enough audio for sealed chunks in the call object.
    await client.chunk(3, frames[3]!);
    const big = patterned(40_000);
    await client.chunk(6, big);
    values = await storedValues('sec-rest', 'call-rest');
    expect(values.some((v) => v.table === 'sealed')).toBe(true);
    expect(values.filter((v) => holdsPattern(v.bytes)).map((v) => v.table)).toEqual([]);
    // And everything comes back byte-exact.
    const stopped = await client.stop();
    expect(equalBytes(await download('sec-rest', String(started.recordingId)), concat([...frames, big]))).toBe(true);
    expect(stopped.size).toBe(concat([...frames, big]).length);
  });

  it('crypto-shredding reaches a live call: once the user key is destroyed, its stored frames are unreadable and the call ends keeping nothing', async () => {
    const client = await openPlain('sec-shred');
    const started = await client.start('call-shred');
    for (let i = 0; i < 3; i++) await client.chunk(i, patterned(500, i === 0));
    await destroyUserKeys(drizzle(env.DB), 'sec-shred');
    // Memory (the unwrapped key) goes with the object; only storage and D1 remain.
    await evictDurableObject(stubFor('sec-shred', 'call-shred'));
    client.sendChunk(3, patterned(500));
    expect(await client.error('call_finished')).toMatchObject({ callId: 'call-shred' });
    const values = await storedValues('sec-shred', 'call-shred');
    expect(values.filter((v) => v.table === 'stream' || v.table === 'buffered' || v.table === 'sealed')).toEqual([]);
    expect(await recording('sec-shred', String(started.recordingId))).toMatchObject({ status: 'failed' });
  });

  it('refuses start to auditors on both protocols (forbidden), and audits it', async () => {
    const plain = await openPlain('sec-auditor', 'auditor');
    expect(await plain.start('call-auditor')).toMatchObject({ type: 'error', code: 'forbidden', callId: 'call-auditor' });
    plain.sendChunk(0, audio(0, 100));
    expect(await plain.error('not_started')).toBeTruthy();
    const { client } = await openSocketIo();
    await client.connect({ token: await tokenFor('sec-auditor', 'auditor') });
    const ack = client.emit('recording:start', { callId: 'call-auditor-sio', format: 'webm' }, true)!;
    expect(await client.ackReply(ack)).toMatchObject({ ok: false, code: 'forbidden', callId: 'call-auditor-sio' });
    await settleAudit();
    const audited = await env.DB.prepare("select count(*) as n from audit_events where actor = 'sec-auditor' and action = 'recording.live_start' and outcome = 'denied'").first<{ n: number }>();
    expect(audited!.n).toBe(2);
  });

  it('closes a socket when its token expires, and refuses start with it from then on', async () => {
    // Expired 27 s ago: still inside the 30 s clock tolerance at the upgrade, so valid for about 3 s more.
    const token = await tokenFor('sec-exp', undefined, {}, Math.floor(Date.now() / 1000) - 27);
    const client = await openPlainWith({ authorization: `Bearer ${token}` });
    expect(await client.start('call-exp')).toMatchObject({ type: 'started' });
    await client.chunk(0, audio(0, 200));
    // The connection object's alarm closes the socket at expiry, with an error frame first.
    expect(await client.error('unauthorized')).toMatchObject({ callId: 'call-exp', message: expect.stringMatching(/expired/) });
    for (let i = 0; i < 50 && !client.inbox.closed; i++) await new Promise((r) => setTimeout(r, 100));
    expect(client.inbox.closed?.code).toBe(1008);
  });

  it('stops new starts at once when the user withdraws recording consent', async () => {
    const client = await openPlain('sec-consent');
    expect(await client.start('call-consent-1')).toMatchObject({ type: 'started' });
    await client.chunk(0, audio(0, 300));
    const withdrawn = await call('/api/v1/gdpr/consent', {
      method: 'PUT',
      headers: { ...(await as('sec-consent')), 'content-type': 'application/json' },
      body: JSON.stringify({ recording: false, transcription: true }),
    });
    expect(withdrawn.status).toBe(200);
    // Resuming the call (a reconnect) and starting another are refused from now on.
    expect(await client.start('call-consent-1')).toMatchObject({ type: 'error', code: 'consent_required' });
    const other = await openPlain('sec-consent');
    expect(await other.start('call-consent-2')).toMatchObject({ type: 'error', code: 'consent_required' });
  });

  it('closes a Socket.IO socket after 3 failed namespace connects', async () => {
    const { client } = await openSocketIo();
    for (const auth of [{}, { token: 'guess-1' }, { token: 'guess-2' }]) expect((await client.connect(auth)).type).toBe(PacketType.CONNECT_ERROR);
    for (let i = 0; i < 50 && !client.packets.closed; i++) await new Promise((r) => setTimeout(r, 50));
    expect(client.packets.closed?.code).toBe(1008);
  });

  it('bounds the queue per call in the connection object: a flood is refused with rate_limited, and nothing acked is lost', async () => {
    const client = await openPlain('sec-flood');
    const started = await client.start('call-flood');
    const size = 256 * 1024;
    const count = Math.ceil((2 * QUEUE_LIMITS.bytes) / size) + 8;
    const chunks = Array.from({ length: count }, (_, i) => audio(2000 + i, size));
    // A call that cannot keep up (held for 3 s): what the client sends meanwhile waits in the connection object.
    const held = runInDurableObject(stubFor('sec-flood', 'call-flood'), (_instance, state) =>
      state.blockConcurrencyWhile(() => new Promise((resolve) => setTimeout(resolve, 3_000))),
    );
    await new Promise((r) => setTimeout(r, 200));
    for (const [i, chunk] of chunks.entries()) client.sendChunk(i, chunk);
    await held;
    const acked = new Set<number>();
    let refused = 0;
    while (acked.size + refused < count) {
      const frame = await client.inbox.take((f) => f.type === 'ack' || f.type === 'error', 'ack or error');
      if (frame.type === 'ack') acked.add(Number(frame.sequence));
      else {
        expect(frame).toMatchObject({ code: 'rate_limited', callId: 'call-flood' });
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    // The client sends again what has no ack.
    for (let i = 0; i < count; i++) if (!acked.has(i)) await client.chunk(i, chunks[i]!);
    const stopped = await client.stop();
    expect(stopped.size).toBe(count * size);
    expect(equalBytes(await download('sec-flood', String(started.recordingId)), concat(chunks))).toBe(true);
  });

  it("refuses a call whose first bytes are not the declared audio format, keeping none of it", async () => {
    const client = await openPlain('sec-sniff');
    const started = await client.start('call-sniff', { format: 'webm' });
    const playlist = new TextEncoder().encode('#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///proc/self/environ\n');
    client.sendChunk(0, playlist);
    expect(await client.error('unsupported_media_type')).toMatchObject({ callId: 'call-sniff', message: expect.stringMatching(/^Invalid file format/) });
    client.sendChunk(1, audio(1, 100));
    expect(await client.error('call_finished')).toBeTruthy();
    expect(await recording('sec-sniff', String(started.recordingId))).toMatchObject({ status: 'failed', size: 0 });
    const values = await storedValues('sec-sniff', 'call-sniff');
    expect(values.filter((v) => v.table === 'stream' || v.table === 'buffered' || v.table === 'sealed')).toEqual([]);
    // Known audio, but not the declared format: refused too.
    const other = await openPlain('sec-sniff');
    await other.start('call-sniff-ogg', { format: 'webm' });
    other.sendChunk(0, audio(0, 400, 'ogg'));
    expect(await other.error('unsupported_media_type')).toBeTruthy();
  });

  it('takes an MP3 call that starts with an ID3 tag, deciding once the frame after the tag has arrived', async () => {
    const client = await openPlain('sec-id3');
    const started = await client.start('call-id3', { format: 'mp3' });
    const tag = id3Tag(300);
    const body = concat([tag, MPEG_FRAME, audio(7, 500).subarray(4)]);
    // The first chunk ends inside the tag: nothing to decide yet, but the chunk is durable and acked.
    const chunks = [body.subarray(0, 110), body.subarray(110, 400), body.subarray(400)];
    for (const [sequence, chunk] of chunks.entries()) expect(await client.chunk(sequence, chunk)).toMatchObject({ type: 'ack', sequence });
    expect(await client.stop()).toMatchObject({ type: 'stopped', size: body.length });
    expect(equalBytes(await download('sec-id3', String(started.recordingId)), body)).toBe(true);
  });

  it('refuses an ID3 tag followed by a playlist once the bytes after the tag arrive, and a tag that claims more than 16 KiB at once', async () => {
    const client = await openPlain('sec-id3');
    const started = await client.start('call-id3-playlist', { format: 'mp3' });
    const hidden = concat([id3Tag(50), new TextEncoder().encode('#EXTM3U\n#EXTINF:1,\nfile:///proc/self/environ\n')]);
    expect(await client.chunk(0, hidden.subarray(0, 30))).toMatchObject({ type: 'ack', sequence: 0 });
    client.sendChunk(1, hidden.subarray(30));
    expect(await client.error('unsupported_media_type')).toMatchObject({ callId: 'call-id3-playlist', message: expect.stringMatching(/^Invalid file format/) });
    expect(await recording('sec-id3', String(started.recordingId))).toMatchObject({ status: 'failed', size: 0 });
    expect((await storedValues('sec-id3', 'call-id3-playlist')).filter((v) => v.table === 'stream' || v.table === 'buffered' || v.table === 'sealed')).toEqual([]);

    const huge = await openPlain('sec-id3');
    await huge.start('call-id3-huge', { format: 'mp3' });
    huge.sendChunk(0, concat([id3Tag(100_000), new Uint8Array(200)]));
    expect(await huge.error('unsupported_media_type')).toMatchObject({ callId: 'call-id3-huge' });
  });

  it('checks a call that ends before its first bytes could tell its format', async () => {
    const client = await openPlain('sec-short');
    const started = await client.start('call-short', { format: 'webm' });
    expect(await client.chunk(0, new TextEncoder().encode('#EXT'))).toMatchObject({ type: 'ack', sequence: 0 });
    client.send({ type: 'stop' });
    expect(await client.error('unsupported_media_type')).toMatchObject({ callId: 'call-short', message: expect.stringMatching(/^Invalid file format/) });
    expect(await recording('sec-short', String(started.recordingId))).toMatchObject({ status: 'failed', size: 0 });
    // Eight bytes of WebM are few, but they are WebM: kept.
    const webm = await openPlain('sec-short');
    const kept = await webm.start('call-short-webm', { format: 'webm' });
    expect(await webm.chunk(0, audio(3, 8))).toMatchObject({ type: 'ack', sequence: 0 });
    expect(await webm.stop()).toMatchObject({ type: 'stopped', size: 8 });
    expect(await recording('sec-short', String(kept.recordingId))).toMatchObject({ size: 8 });
  });
});
