import { env, evictAllDurableObjects, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { as, call } from '../support/auth';
import { equalBytes } from '../support/recordings';
import { audio, concat, download, openPlain, recording, stubFor, upgrade } from './client';

const sizes = [120, 5000, 16384, 16383, 1, 40_000, 0, 16385, 777];

describe('live recording, plain protocol', () => {
  it('records an in-order stream byte-exact and writes a processing Recording', async () => {
    const client = await openPlain('live-a');
    const started = await client.start('call-in-order', { format: 'ogg', callerPhone: '+14155550100', receiverPhone: '+442071838750' });
    expect(started).toMatchObject({ type: 'started', callId: 'call-in-order', nextSequence: 0 });
    expect(String(started.recordingId)).toMatch(/^rec_/);
    const chunks = sizes.map((size, i) => audio(i, size, 'ogg'));
    for (const [i, chunk] of chunks.entries()) client.sendChunk(i, chunk);
    for (let i = 0; i < chunks.length; i++) expect(await client.ack(i)).toEqual({ type: 'ack', callId: 'call-in-order', sequence: i });
    const stopped = await client.stop();
    const expected = concat(chunks);
    expect(stopped).toMatchObject({ type: 'stopped', recordingId: started.recordingId, size: expected.length, pauses: [], gaps: [] });
    expect(equalBytes(await download('live-a', String(started.recordingId)), expected)).toBe(true);
    const row = await recording('live-a', String(started.recordingId));
    expect(row).toMatchObject({ status: 'processing', size: expected.length, format: 'ogg', contentType: 'audio/ogg', callId: 'call-in-order', userId: 'live-a', callerPhone: '+14155550100', pauses: [], gaps: [] });
    client.close();
  });

  it('ignores repeated sequences (still acked) and waits for out-of-order chunks', async () => {
    const client = await openPlain('live-b');
    const started = await client.start('call-reorder');
    const chunks = Array.from({ length: 8 }, (_, i) => audio(100 + i, 9000 + i));
    for (const sequence of [0, 2, 1, 1, 0, 4, 3, 7, 6, 5, 7, 2]) client.sendChunk(sequence, chunks[sequence]!);
    const acks = [];
    for (let n = 0; n < 12; n++) acks.push(await client.next('ack'));
    expect(acks.filter((a) => a.duplicate === true).map((a) => a.sequence).sort()).toEqual([0, 1, 2, 7]);
    const stopped = await client.stop();
    expect(stopped.gaps).toEqual([]);
    expect(equalBytes(await download('live-b', String(started.recordingId)), concat(chunks))).toBe(true);
  });

  it('resumes a call on a new connection from nextSequence, with the same recording', async () => {
    const first = await openPlain('live-c');
    const started = await first.start('call-resume');
    const chunks = Array.from({ length: 6 }, (_, i) => audio(200 + i, 7000));
    for (let i = 0; i < 3; i++) await first.chunk(i, chunks[i]!);
    first.close();
    const second = await openPlain('live-c');
    const again = await second.start('call-resume');
    expect(again).toMatchObject({ type: 'started', recordingId: started.recordingId, nextSequence: 3 });
    // The client resends from an older point: repeats are harmless.
    for (let i = 2; i < 6; i++) await second.chunk(i, chunks[i]!);
    const stopped = await second.stop();
    expect(stopped.size).toBe(6 * 7000);
    expect(equalBytes(await download('live-c', String(started.recordingId)), concat(chunks))).toBe(true);
  });

  it('drops exactly the chunks sent while paused and lists the pause', async () => {
    const client = await openPlain('live-d');
    const started = await client.start('call-pause');
    const chunks = Array.from({ length: 6 }, (_, i) => audio(300 + i, 3000));
    await client.chunk(0, chunks[0]!);
    await client.chunk(1, chunks[1]!);
    client.send({ type: 'pause' });
    expect(await client.next('paused')).toMatchObject({ callId: 'call-pause' });
    expect(await client.chunk(2, chunks[2]!)).toMatchObject({ sequence: 2, dropped: true });
    expect(await client.chunk(3, chunks[3]!)).toMatchObject({ sequence: 3, dropped: true });
    await new Promise((r) => setTimeout(r, 20));
    client.send({ type: 'resume' });
    const resumed = await client.next('resumed');
    expect(Number(resumed.durationMs)).toBeGreaterThanOrEqual(0);
    await client.chunk(4, chunks[4]!);
    await client.chunk(5, chunks[5]!);
    const stopped = await client.stop();
    expect(stopped.gaps).toEqual([]);
    expect(stopped.pauses).toHaveLength(1);
    const expected = concat([chunks[0]!, chunks[1]!, chunks[4]!, chunks[5]!]);
    expect(stopped.size).toBe(expected.length);
    expect(equalBytes(await download('live-d', String(started.recordingId)), expected)).toBe(true);
    const row = await recording('live-d', String(started.recordingId));
    expect(row.pauses).toEqual(stopped.pauses);
  });

  it('drops a chunk sent while paused even when it arrives ahead of its turn, without calling it a gap', async () => {
    const client = await openPlain('live-d2');
    const started = await client.start('call-pause-order');
    const chunks = Array.from({ length: 4 }, (_, i) => audio(350 + i, 2000));
    await client.chunk(0, chunks[0]!);
    client.send({ type: 'pause' });
    await client.next('paused');
    expect(await client.chunk(2, chunks[2]!)).toMatchObject({ sequence: 2, dropped: true });
    client.send({ type: 'resume' });
    await client.next('resumed');
    // Chunk 1 was sent before the pause but arrives late: it is kept, and 2 stays dropped.
    expect(await client.chunk(1, chunks[1]!)).toEqual({ type: 'ack', callId: 'call-pause-order', sequence: 1 });
    await client.chunk(3, chunks[3]!);
    const stopped = await client.stop();
    expect(stopped.gaps).toEqual([]);
    expect(equalBytes(await download('live-d2', String(started.recordingId)), concat([chunks[0]!, chunks[1]!, chunks[3]!]))).toBe(true);
  });

  it('bounds the audio held for a hole, and keeps what it holds', async () => {
    const client = await openPlain('live-e2');
    const started = await client.start('call-window');
    const big = Array.from({ length: 34 }, (_, i) => audio(450 + i, 256 * 1024));
    // 32 × 256 KiB = 8 MiB may wait for sequence 0; the 33rd is refused. (Sent 8 at a time: the connection queues at most 4 MiB.)
    for (let i = 1; i <= 32; i += 8) {
      for (let k = i; k < i + 8; k++) client.sendChunk(k, big[k]!);
      for (let k = i; k < i + 8; k++) await client.ack(k);
    }
    client.sendChunk(33, big[33]!);
    expect(await client.error('sequence_out_of_window')).toBeTruthy();
    await client.chunk(0, big[0]!);
    await client.chunk(33, big[33]!);
    const stopped = await client.stop();
    expect(stopped).toMatchObject({ size: 34 * 256 * 1024, gaps: [] });
    expect(equalBytes(await download('live-e2', String(started.recordingId)), concat(big))).toBe(true);
  });

  it('keeps a call stopped with a hole, and reports the gap', async () => {
    const client = await openPlain('live-e');
    const started = await client.start('call-gap');
    const chunks = Array.from({ length: 7 }, (_, i) => audio(400 + i, 2500));
    for (const sequence of [0, 1, 4, 6]) await client.chunk(sequence, chunks[sequence]!);
    const stopped = await client.stop();
    expect(stopped.gaps).toEqual([
      { fromSequence: 2, toSequence: 3 },
      { fromSequence: 5, toSequence: 5 },
    ]);
    const expected = concat([chunks[0]!, chunks[1]!, chunks[4]!, chunks[6]!]);
    expect(equalBytes(await download('live-e', String(started.recordingId)), expected)).toBe(true);
    expect((await recording('live-e', String(started.recordingId))).gaps).toEqual(stopped.gaps);
  });

  it('loses nothing acked when the call object and the connection object are evicted between chunks', async () => {
    const client = await openPlain('live-f');
    const started = await client.start('call-evict');
    const chunks = Array.from({ length: 9 }, (_, i) => audio(500 + i, 11_000));
    for (let i = 0; i < 3; i++) await client.chunk(i, chunks[i]!);
    await evictDurableObject(stubFor('live-f', 'call-evict'));
    for (let i = 3; i < 6; i++) await client.chunk(i, chunks[i]!);
    // Every object, the connection's too: its socket hibernates and the next frame wakes it.
    await evictAllDurableObjects();
    for (let i = 6; i < 9; i++) await client.chunk(i, chunks[i]!);
    const stopped = await client.stop();
    expect(stopped.size).toBe(9 * 11_000);
    expect(equalBytes(await download('live-f', String(started.recordingId)), concat(chunks))).toBe(true);
  });

  it('finalizes a call that stays silent for LIVE_IDLE_TIMEOUT_SECONDS, and tells its socket', async () => {
    const client = await openPlain('live-g');
    const started = await client.start('call-idle');
    const chunks = Array.from({ length: 3 }, (_, i) => audio(600 + i, 20_000));
    for (const [i, chunk] of chunks.entries()) await client.chunk(i, chunk);
    const stub = stubFor('live-g', 'call-idle');
    // Not yet idle: the alarm only re-arms.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // While recorded: visible as `recording`, its audio not yet served.
    expect(await recording('live-g', String(started.recordingId))).toMatchObject({ status: 'recording', endTime: null });
    const early = await call(`/api/v1/recordings/${started.recordingId}/download`, { headers: await as('live-g') });
    expect(early.status).toBe(409);
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe('conflict');
    // 61 s of silence, as the stored clock sees it.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec('update call_state set last_activity_ms = last_activity_ms - 61000');
    });
    // The object keeps its state in memory: evicted, it reads the stored clock again (as after any restart).
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const stopped = await client.next('stopped');
    expect(stopped).toMatchObject({ recordingId: started.recordingId, size: 60_000 });
    expect(equalBytes(await download('live-g', String(started.recordingId)), concat(chunks))).toBe(true);
    // A late chunk is refused; a repeated stop answers the same result.
    client.sendChunk(3, audio(0, 10));
    expect(await client.error('not_started')).toBeTruthy();
    const other = await openPlain('live-g');
    expect(await other.start('call-idle')).toMatchObject({ type: 'error', code: 'call_finished' });
  });

  it('finalizes a call at LIVE_MAX_DURATION_HOURS even while chunks keep coming', async () => {
    const client = await openPlain('live-g2');
    const started = await client.start('call-max');
    const chunks = Array.from({ length: 2 }, (_, i) => audio(650 + i, 5000));
    await client.chunk(0, chunks[0]!);
    const stub = stubFor('live-g2', 'call-max');
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec('update call_state set started_ms = started_ms - 12 * 3600000');
    });
    // The object keeps its state in memory: evicted, it reads the stored clock again (as after any restart).
    await evictDurableObject(stub);
    // The next chunk finds the call over its maximum: it is refused and the call ends there.
    client.sendChunk(1, chunks[1]!);
    expect(await client.error('call_finished')).toBeTruthy();
    expect(await client.next('stopped')).toMatchObject({ recordingId: started.recordingId, size: 5000 });
    expect(equalBytes(await download('live-g2', String(started.recordingId)), chunks[0]!)).toBe(true);
    // The alarm path reaches the same end for a silent call.
    const quiet = await openPlain('live-g2');
    const other = await quiet.start('call-max-alarm');
    await quiet.chunk(0, chunks[1]!);
    const quietStub = stubFor('live-g2', 'call-max-alarm');
    await runInDurableObject(quietStub, (_instance, state) => {
      state.storage.sql.exec('update call_state set started_ms = started_ms - 12 * 3600000');
    });
    // The object keeps its state in memory: evicted, it reads the stored clock again (as after any restart).
    await evictDurableObject(quietStub);
    expect(await runDurableObjectAlarm(quietStub)).toBe(true);
    expect(await quiet.next('stopped')).toMatchObject({ recordingId: other.recordingId, size: 5000 });
    expect(await runInDurableObject(quietStub, (_i, state) => String(state.storage.sql.exec('select end_reason from call_state').one().end_reason))).toBe('max_duration');
  });

  it('uploads a call of several parts through a multipart upload, surviving eviction mid-call', async () => {
    const client = await openPlain('live-h');
    const started = await client.start('call-big');
    const size = 256 * 1024;
    const chunks = Array.from({ length: 46 }, (_, i) => audio(700 + i, size)); // 11.5 MiB: two full parts and a short one
    const sendAll = async (from: number, to: number) => {
      // 8 at a time: the connection queues at most 4 MiB of audio.
      for (let i = from; i < to; i += 8) {
        for (let k = i; k < Math.min(to, i + 8); k++) client.sendChunk(k, chunks[k]!);
        for (let k = i; k < Math.min(to, i + 8); k++) await client.ack(k);
      }
    };
    await sendAll(0, 23);
    await new Promise((r) => setTimeout(r, 200));
    const open = await env.DB.prepare('select count(*) as n from open_uploads where recording_id = ?').bind(started.recordingId).first<{ n: number }>();
    expect(open!.n).toBe(1);
    await evictAllDurableObjects();
    await sendAll(23, 46);
    const stopped = await client.stop();
    const expected = concat(chunks);
    expect(stopped.size).toBe(expected.length);
    expect(equalBytes(await download('live-h', String(started.recordingId)), expected)).toBe(true);
    const after = await env.DB.prepare('select count(*) as n from open_uploads where recording_id = ?').bind(started.recordingId).first<{ n: number }>();
    expect(after!.n).toBe(0);
    // The call object keeps only its small state row once finished.
    const leftover = await runInDurableObject(stubFor('live-h', 'call-big'), (_i, state) =>
      ['stream', 'buffered', 'sealed', 'parts'].map((t) => Number(state.storage.sql.exec(`select count(*) as n from ${t}`).one().n)),
    );
    expect(leftover).toEqual([0, 0, 0, 0]);
  });

  it('refuses bad input with an error frame and keeps the recording intact', async () => {
    const client = await openPlain('live-i');
    client.sendChunk(0, audio(0, 10));
    expect(await client.error('not_started')).toBeTruthy();
    client.send({ type: 'stop' });
    expect(await client.error('not_started')).toBeTruthy();
    const started = await client.start('call-bad');
    const chunks = Array.from({ length: 3 }, (_, i) => audio(800 + i, 4000));
    await client.chunk(0, chunks[0]!);
    client.send('this is not json');
    expect(await client.error('invalid_request')).toMatchObject({ callId: 'call-bad' });
    client.send({ type: 'dance' });
    expect((await client.error('invalid_request')).message).toMatch(/^type:/);
    client.send({ type: 'start', callId: '' });
    expect((await client.error('invalid_request')).message).toMatch(/^callId:/);
    client.send({ type: 'start', callId: 'x', format: 'avi' });
    expect((await client.error('invalid_request')).message).toMatch(/^format:/);
    client.send(new Uint8Array([1, 2]).buffer);
    expect(await client.error('invalid_request')).toBeTruthy();
    client.sendChunk(1, new Uint8Array(256 * 1024 + 1));
    expect(await client.error('payload_too_large')).toBeTruthy();
    client.sendChunk(5000, audio(1, 10));
    expect(await client.error('sequence_out_of_window')).toMatchObject({ callId: 'call-bad' });
    expect(await client.start('another-call')).toMatchObject({ type: 'error', code: 'wrong_call' });
    client.send({ type: 'stop', callId: 'another-call' });
    expect(await client.error('wrong_call')).toBeTruthy();
    await client.chunk(1, chunks[1]!);
    await client.chunk(2, chunks[2]!);
    const stopped = await client.stop();
    expect(stopped).toMatchObject({ type: 'stopped', size: 12_000, gaps: [] });
    expect(equalBytes(await download('live-i', String(started.recordingId)), concat(chunks))).toBe(true);
  });

  it('caps concurrent calls per user and frees the place when a call ends', async () => {
    const clients = [];
    for (let i = 0; i < 10; i++) {
      const client = await openPlain('live-j');
      expect(await client.start(`call-cap-${i}`)).toMatchObject({ type: 'started' });
      clients.push(client);
    }
    const eleventh = await openPlain('live-j');
    expect(await eleventh.start('call-cap-10')).toMatchObject({ type: 'error', code: 'too_many_calls' });
    // Another user is not affected.
    const stranger = await openPlain('live-j2');
    expect(await stranger.start('call-cap-10')).toMatchObject({ type: 'started' });
    expect(await clients[0]!.stop()).toMatchObject({ type: 'stopped', size: 0 });
    expect(await eleventh.start('call-cap-10')).toMatchObject({ type: 'started' });
  });

  it('refuses to start without recording consent', async () => {
    await env.DB.prepare("insert into consents (user_id, recording, transcription, updated_at) values ('live-k', 0, 1, '2026-01-01T00:00:00Z')").run();
    const client = await openPlain('live-k');
    expect(await client.start('call-consent')).toMatchObject({ type: 'error', code: 'consent_required' });
    client.sendChunk(0, audio(0, 10));
    expect(await client.error('not_started')).toBeTruthy();
  });

  it('answers 401 JSON without a valid token and 426 without an upgrade, and takes ?token=', async () => {
    const none = await upgrade('/api/v1/recordings/live');
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const bad = await upgrade('/api/v1/recordings/live?token=nope');
    expect(bad.status).toBe(401);
    const plain = await call('/api/v1/recordings/live', { headers: await as('live-l') });
    expect(plain.status).toBe(426);
    expect(((await plain.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    const token = (await as('live-l')).authorization!.slice('Bearer '.length);
    const ok = await upgrade(`/api/v1/recordings/live?token=${token}`);
    expect(ok.status).toBe(101);
    ok.webSocket!.accept();
    ok.webSocket!.close(1000);
  });
});
