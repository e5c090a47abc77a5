import { evictAllDurableObjects, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { as } from '../support/auth';
import { equalBytes } from '../support/recordings';
import { audio, concat, download, openPlainCall, stubFor, upgrade } from './client';

describe('live recording, plain protocol on a socket the call object holds (?callId=)', () => {
  it('records in order and out of order byte-exact, acking each chunk, with duplicates and a pause', async () => {
    const client = await openPlainCall('direct-a', 'direct-call');
    const started = await client.start('direct-call');
    expect(started).toMatchObject({ type: 'started', callId: 'direct-call', nextSequence: 0 });
    const chunks = Array.from({ length: 12 }, (_, i) => audio(3000 + i, 120 + i * 900));
    for (const sequence of [0, 2, 1, 1, 3, 5, 4, 6]) client.sendChunk(sequence, chunks[sequence]!);
    const acks = [];
    for (let n = 0; n < 8; n++) acks.push(await client.next('ack'));
    expect(acks.filter((a) => a.duplicate === true).map((a) => a.sequence)).toEqual([1]);
    client.send({ type: 'pause' });
    await client.next('paused');
    expect(await client.chunk(7, chunks[7]!)).toMatchObject({ dropped: true });
    client.send({ type: 'resume' });
    await client.next('resumed');
    for (let i = 8; i < 12; i++) client.sendChunk(i, chunks[i]!);
    for (let i = 8; i < 12; i++) await client.ack(i);
    const stopped = await client.stop();
    const expected = concat(chunks.filter((_, i) => i !== 7));
    expect(stopped).toMatchObject({ type: 'stopped', recordingId: started.recordingId, size: expected.length, gaps: [] });
    expect(equalBytes(await download('direct-a', String(started.recordingId)), expected)).toBe(true);
  });

  it('loses nothing acked when the call object is evicted mid-call; a new socket resumes from nextSequence', async () => {
    const first = await openPlainCall('direct-b', 'direct-evict');
    const started = await first.start('direct-evict');
    const chunks = Array.from({ length: 9 }, (_, i) => audio(3100 + i, 7000));
    for (let i = 0; i < 3; i++) await first.chunk(i, chunks[i]!);
    await evictDurableObject(stubFor('direct-b', 'direct-evict'));
    // The socket survives the eviction (hibernation): the next frame wakes the object.
    for (let i = 3; i < 6; i++) await first.chunk(i, chunks[i]!);
    await evictAllDurableObjects();
    const second = await openPlainCall('direct-b', 'direct-evict');
    expect(await second.start('direct-evict')).toMatchObject({ recordingId: started.recordingId, nextSequence: 6 });
    for (let i = 5; i < 9; i++) await second.chunk(i, chunks[i]!);
    const stopped = await second.stop();
    expect(stopped.size).toBe(9 * 7000);
    expect(equalBytes(await download('direct-b', String(started.recordingId)), concat(chunks))).toBe(true);
  });

  it('refuses chunks before start, another callId, and a bad callId at the upgrade', async () => {
    const client = await openPlainCall('direct-c', 'direct-strict');
    client.sendChunk(0, audio(0, 100));
    expect(await client.error('not_started')).toMatchObject({ callId: 'direct-strict' });
    expect(await client.start('another')).toMatchObject({ type: 'error', code: 'wrong_call' });
    await client.start('direct-strict');
    await client.chunk(0, audio(0, 100));
    client.send({ type: 'stop', callId: 'another' });
    expect(await client.error('wrong_call')).toBeTruthy();
    const bad = await upgrade(`/api/v1/recordings/live?callId=${'x'.repeat(201)}`, await as('direct-c'));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/^callId:/) });
  });

  it('tells its own socket when the idle alarm ends the call', async () => {
    const client = await openPlainCall('direct-d', 'direct-idle');
    const started = await client.start('direct-idle');
    await client.chunk(0, audio(0, 5000));
    const stub = stubFor('direct-d', 'direct-idle');
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec('update call_state set last_activity_ms = last_activity_ms - 61000');
    });
    // The object keeps its state in memory: evicted, it reads the stored clock again (as after any restart).
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await client.next('stopped')).toMatchObject({ recordingId: started.recordingId, size: 5000 });
  });
});
