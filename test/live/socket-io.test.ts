import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { PacketType } from 'socket.io-parser';
import { describe, expect, it } from 'vitest';
import { and, eq, sql } from 'drizzle-orm';
import { flushDeniedAuth } from '../../src/compliance/denied-auth';
import { createDb } from '../../src/context';
import { auditEvents } from '../../src/db/schema';
import { connectionStub } from '../../src/live/routing';
import { settleAudit, testLedger } from '../support/audit';
import { equalBytes } from '../support/recordings';
import { audio, concat, download, openSocketIo, recording, stubFor, tokenFor, upgrade } from './client';

describe('live recording, Socket.IO v4', () => {
  it('opens an Engine.IO session and connects the namespace with auth.token', async () => {
    const { client, open } = await openSocketIo();
    expect(open).toMatchObject({ upgrades: [], pingInterval: 25_000, pingTimeout: 20_000, maxPayload: 1_000_000 });
    expect(typeof open.sid).toBe('string');
    const refused = await client.connect({});
    expect(refused.type).toBe(PacketType.CONNECT_ERROR);
    expect(refused.data).toEqual({ message: 'Missing or invalid credentials', data: { code: 'unauthorized' } });
    expect((await client.connect({ token: await tokenFor('sio-a') }, '/admin')).type).toBe(PacketType.CONNECT_ERROR);
    const accepted = await client.connect({ token: await tokenFor('sio-a') });
    expect(accepted.type).toBe(PacketType.CONNECT);
    expect(typeof (accepted.data as { sid: string }).sid).toBe('string');
  });

  it("counts a refused namespace CONNECT into the client's address and minute, like a refused HTTP request", async () => {
    const source = '203.0.113.77';
    const { client } = await openSocketIo({ 'cf-connecting-ip': source });
    expect((await client.connect({ token: 'not-a-jwt' })).type).toBe(PacketType.CONNECT_ERROR);
    expect((await client.connect({ apiKey: 'not-a-key' })).type).toBe(PacketType.CONNECT_ERROR);
    const db = createDb(env.DB);
    // The denial is written after the answer (waitUntil of the connection object): wait for its row, then close its minute.
    for (let i = 0; i < 100 && ((await env.DB.prepare('SELECT count(*) AS n FROM auth_denials WHERE source = ?').bind(source).first<{ n: number }>())?.n ?? 0) < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await flushDeniedAuth(db, testLedger, new Date(Date.now() + 130_000));
    await settleAudit();
    const events = await db.select().from(auditEvents).where(and(eq(auditEvents.action, 'auth.denied'), sql`json_extract(${auditEvents.details}, '$.source') = ${source}`));
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ source, count: 2, firstPath: '/socket.io/' });
    expect(Object.keys((events[0]!.details as { reasons: Record<string, number> }).reasons).sort()).toEqual(['unknown api key', expect.any(String)].sort());
  });

  it('records binary chunks byte-exact, answering events and acknowledgement callbacks', async () => {
    const { client } = await openSocketIo();
    await client.connect({ token: await tokenFor('sio-b') });
    const startAck = client.emit('recording:start', { callId: 'sio-call', format: 'webm' }, true)!;
    const started = await client.event('recording:started');
    expect(started).toMatchObject({ callId: 'sio-call', nextSequence: 0, paused: false });
    expect(await client.ackReply(startAck)).toEqual({ ok: true, ...started });
    const chunks = Array.from({ length: 10 }, (_, i) => audio(900 + i, 6000 + i * 1000));
    const ids = chunks.map((chunk, sequence) => client.emit('recording:chunk', { callId: 'sio-call', chunk, sequence }, true)!);
    for (let sequence = 0; sequence < chunks.length; sequence++) {
      expect(await client.event('recording:ack', (b) => b.sequence === sequence)).toEqual({ callId: 'sio-call', sequence });
      expect(await client.ackReply(ids[sequence]!)).toEqual({ ok: true, callId: 'sio-call', sequence });
    }
    client.emit('recording:chunk', { callId: 'sio-call', chunk: chunks[3], sequence: 3 });
    expect(await client.event('recording:ack', (b) => b.sequence === 3)).toEqual({ callId: 'sio-call', sequence: 3, duplicate: true });
    const stopAck = client.emit('recording:stop', { callId: 'sio-call' }, true)!;
    const stopped = await client.event('recording:stopped');
    const expected = concat(chunks);
    expect(stopped).toMatchObject({ callId: 'sio-call', recordingId: started.recordingId, size: expected.length });
    expect(await client.ackReply(stopAck)).toMatchObject({ ok: true, size: expected.length });
    expect(equalBytes(await download('sio-b', String(started.recordingId)), expected)).toBe(true);
  });

  it('carries several calls on one connection, with pause and resume', async () => {
    const { client } = await openSocketIo();
    await client.connect({ token: await tokenFor('sio-c') });
    client.emit('recording:start', { callId: 'left' });
    const left = await client.event('recording:started', (b) => b.callId === 'left');
    client.emit('recording:start', { callId: 'right', format: 'audio/ogg;codecs=opus' });
    const right = await client.event('recording:started', (b) => b.callId === 'right');
    const a = Array.from({ length: 4 }, (_, i) => audio(1000 + i, 5000));
    const b = Array.from({ length: 4 }, (_, i) => audio(1100 + i, 3000, 'ogg'));
    for (let i = 0; i < 4; i++) {
      if (i === 2) {
        client.emit('recording:pause', { callId: 'right' });
        await client.event('recording:paused', (e) => e.callId === 'right');
      }
      client.emit('recording:chunk', { callId: 'left', chunk: a[i], sequence: i });
      client.emit('recording:chunk', { callId: 'right', chunk: b[i], sequence: i });
      await client.event('recording:ack', (e) => e.callId === 'left' && e.sequence === i);
      await client.event('recording:ack', (e) => e.callId === 'right' && e.sequence === i);
      if (i === 2) {
        client.emit('recording:resume', { callId: 'right' });
        await client.event('recording:resumed', (e) => e.callId === 'right');
      }
    }
    client.emit('recording:stop', { callId: 'left' });
    client.emit('recording:stop', { callId: 'right' });
    await client.event('recording:stopped', (e) => e.callId === 'left');
    const rightStopped = await client.event('recording:stopped', (e) => e.callId === 'right');
    expect((rightStopped.pauses as unknown[]).length).toBe(1);
    expect(equalBytes(await download('sio-c', String(left.recordingId)), concat(a))).toBe(true);
    expect(equalBytes(await download('sio-c', String(right.recordingId)), concat([b[0]!, b[1]!, b[3]!]))).toBe(true);
    expect(await recording('sio-c', String(right.recordingId))).toMatchObject({ format: 'ogg' });
  });

  it('answers bad events with recording:error and keeps the call intact', async () => {
    const { client } = await openSocketIo();
    await client.connect({ token: await tokenFor('sio-d') });
    client.emit('recording:chunk', { callId: 'never-started', chunk: audio(0, 10), sequence: 0 });
    expect(await client.event('recording:error')).toMatchObject({ callId: 'never-started', code: 'not_started' });
    client.emit('recording:start', { callId: 'sio-bad' });
    const started = await client.event('recording:started');
    const id = client.emit('recording:dance', { callId: 'sio-bad' }, true)!;
    expect(await client.event('recording:error')).toMatchObject({ code: 'invalid_request' });
    expect(await client.ackReply(id)).toMatchObject({ ok: false, code: 'invalid_request' });
    client.emit('recording:chunk', { callId: 'sio-bad', chunk: 12, sequence: 0 });
    expect((await client.event('recording:error')).message).toMatch(/^chunk:/);
    client.emit('recording:chunk', { chunk: audio(0, 10), sequence: 0 });
    expect((await client.event('recording:error')).message).toMatch(/^callId:/);
    client.emit('recording:chunk', { callId: 'sio-bad', chunk: audio(0, 10), sequence: -1 });
    expect((await client.event('recording:error')).message).toMatch(/^sequence:/);
    client.emit('recording:chunk', { callId: 'sio-bad', chunk: new Uint8Array(300_000), sequence: 0 });
    expect(await client.event('recording:error')).toMatchObject({ code: 'payload_too_large' });
    client.emit('recording:chunk', { callId: 'sio-bad', chunk: audio(0, 10), sequence: 99_999 });
    expect(await client.event('recording:error')).toMatchObject({ code: 'sequence_out_of_window' });
    client.raw('4garbage');
    expect(await client.event('recording:error')).toMatchObject({ code: 'invalid_request' });
    client.raw('9');
    expect(await client.event('recording:error')).toMatchObject({ code: 'invalid_request' });
    // Base64 text is accepted from clients that cannot send binary.
    const chunk = audio(1, 700);
    client.emit('recording:chunk', { callId: 'sio-bad', chunk: btoa(String.fromCharCode(...chunk)), sequence: 0 });
    await client.event('recording:ack', (e) => e.sequence === 0);
    client.emit('recording:stop', { callId: 'sio-bad' });
    expect(await client.event('recording:stopped')).toMatchObject({ size: 700 });
    expect(equalBytes(await download('sio-d', String(started.recordingId)), chunk)).toBe(true);
  });

  it('takes the token at the upgrade too, and refuses other transports', async () => {
    const token = await tokenFor('sio-e');
    const { client } = await openSocketIo({}, `EIO=4&transport=websocket&token=${token}`);
    expect((await client.connect()).type).toBe(PacketType.CONNECT);
    expect((await upgrade('/socket.io/?EIO=4&transport=websocket&token=bad')).status).toBe(401);
    expect((await upgrade('/socket.io/?EIO=4&transport=polling')).status).toBe(400);
    expect((await upgrade('/socket.io/?EIO=3&transport=websocket')).status).toBe(400);
  });

  it('pings from the connection object alarm', async () => {
    const { client } = await openSocketIo();
    await client.connect({ token: await tokenFor('sio-f') });
    client.emit('recording:start', { callId: 'sio-ping' });
    await client.event('recording:started');
    const connection = await runInDurableObject(stubFor('sio-f', 'sio-ping'), (_i, state) => String(state.storage.sql.exec('select connection from call_state').one().connection));
    expect(await runDurableObjectAlarm(connectionStub(env, connection))).toBe(true);
    expect(await client.engine.take((p) => p.type === 'ping', 'ping')).toBeTruthy();
  });
});
