/**
 * Live recording end to end: `wrangler dev` (local D1, R2, Queues, Durable Objects) driven from
 * Node by the real `ws` package (plain protocol) and the real `socket.io-client`
 * (`transports: ["websocket"], auth: { token }`), including a crash and restart of the runtime
 * between acknowledged chunks.
 */
import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import { LiveUpload } from '../../src/web/live-upload';
import { TEST_SECRETS } from '../support/secrets';
import { useWranglerDev } from '../live/use-wrangler-dev.ts';
import { tokenFor } from '../live/wrangler-dev.ts';

type Frame = Record<string, unknown> & { type: string };

const dev = useWranglerDev({ verbose: process.env.LIVE_E2E_VERBOSE === '1' }, 120_000);

/** Deterministic bytes that start with WebM's magic (what the service's sniffer wants of a call's first bytes). */
function audio(i: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = (i + 7) * 2654435761;
  for (let j = 0; j < size; j++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[j] = x >>> 24;
  }
  Buffer.from([0x1a, 0x45, 0xdf, 0xa3]).copy(out, 0, 0, Math.min(4, size));
  return out;
}

async function api(user: string, path: string): Promise<Response> {
  return fetch(`${dev.url}/api/v1${path}`, { headers: { authorization: `Bearer ${await tokenFor(user)}` } });
}

async function download(user: string, recordingId: string): Promise<Buffer> {
  const res = await fetch(`${dev.url}/api/v1/recordings/${recordingId}/download`, { headers: { authorization: `Bearer ${await tokenFor(user)}` } });
  if (res.status !== 200) throw new Error(`download answered ${res.status}: ${await res.text()}`);
  return Buffer.from(await res.arrayBuffer());
}

/** The plain protocol over the `ws` package, waiting for frames by predicate. */
class PlainSocket {
  private readonly frames: Frame[] = [];
  private readonly waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(String(data)) as Frame;
      const index = this.waiters.findIndex((w) => w.match(frame));
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(frame);
      else this.frames.push(frame);
    });
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
  }

  /** `callId`: named at the upgrade (`?callId=`), so that the call's own object holds the socket. */
  static async open(user: string, role?: 'user' | 'admin' | 'auditor', callId?: string): Promise<PlainSocket> {
    const query = callId === undefined ? '' : `?callId=${encodeURIComponent(callId)}`;
    const ws = new WebSocket(`${dev.url.replace('http', 'ws')}/api/v1/recordings/live${query}`, { headers: { authorization: `Bearer ${await tokenFor(user, role)}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new PlainSocket(ws);
  }

  next(match: (f: Frame) => boolean, timeoutMs = 15_000, what = 'frame'): Promise<Frame> {
    const index = this.frames.findIndex(match);
    if (index >= 0) return Promise.resolve(this.frames.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what}; unclaimed ${JSON.stringify(this.frames).slice(0, 300)}`)), timeoutMs);
      this.waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  send(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  chunk(sequence: number, data: Buffer): Promise<Frame> {
    const frame = Buffer.alloc(4 + data.length);
    frame.writeUInt32BE(sequence, 0);
    data.copy(frame, 4);
    this.ws.send(frame);
    return this.next((f) => f.type === 'ack' && f.sequence === sequence, 15_000, `ack ${sequence}`);
  }
}

function connectSocketIo(token: string): Socket {
  return io(dev.url, { transports: ['websocket'], auth: { token }, reconnectionDelay: 200, reconnectionDelayMax: 1_000 });
}

const once = <T>(socket: Socket, event: string, match: (body: T) => boolean = () => true, timeoutMs = 15_000): Promise<T> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event}`)), timeoutMs);
    const listener = (body: T) => {
      if (!match(body)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(body);
    };
    socket.on(event, listener);
  });

describe('live recording against wrangler dev', () => {
  it('plain protocol with ?callId= (the call object holds the socket): byte-exact round trip, wrong_call for another call', async () => {
    const client = await PlainSocket.open('e2e-direct', undefined, 'e2e-direct-1');
    client.send({ type: 'start', callId: 'e2e-direct-2', format: 'webm' });
    expect(await client.next((f) => f.type === 'error')).toMatchObject({ code: 'wrong_call' });
    client.send({ type: 'start', callId: 'e2e-direct-1', format: 'webm' });
    const started = await client.next((f) => f.type === 'started');
    const chunks = Array.from({ length: 60 }, (_, i) => audio(600 + i, 120 + i * 311));
    chunks.forEach((chunk, i) => {
      const frame = Buffer.alloc(4 + chunk.length);
      frame.writeUInt32BE(i, 0);
      chunk.copy(frame, 4);
      client.ws.send(frame);
    });
    for (let i = 0; i < chunks.length; i++) await client.next((f) => f.type === 'ack' && f.sequence === i, 15_000, `ack ${i}`);
    client.send({ type: 'stop' });
    const stopped = await client.next((f) => f.type === 'stopped');
    expect(stopped.size).toBe(Buffer.concat(chunks).length);
    expect((await download('e2e-direct', String(started.recordingId))).equals(Buffer.concat(chunks))).toBe(true);
    client.ws.close();
  });

  it('plain protocol with ws: byte-exact round trip', async () => {
    const client = await PlainSocket.open('e2e-plain');
    client.send({ type: 'start', callId: 'e2e-plain-1', format: 'webm' });
    const started = await client.next((f) => f.type === 'started');
    const chunks = Array.from({ length: 40 }, (_, i) => audio(i, 1000 + i * 997));
    for (const [i, chunk] of chunks.entries()) await client.chunk(i, chunk);
    client.send({ type: 'stop' });
    const stopped = await client.next((f) => f.type === 'stopped');
    const expected = Buffer.concat(chunks);
    expect(stopped.size).toBe(expected.length);
    expect((await download('e2e-plain', String(started.recordingId))).equals(expected)).toBe(true);
    client.ws.close();
  });

  it('socket.io-client with transports ["websocket"]: byte-exact round trip with acknowledgement callbacks', async () => {
    const socket = connectSocketIo(await tokenFor('e2e-sio'));
    await once(socket, 'connect');
    const started = await socket.emitWithAck('recording:start', { callId: 'e2e-sio-1', format: 'webm' });
    expect(started).toMatchObject({ ok: true, callId: 'e2e-sio-1', nextSequence: 0 });
    const chunks = Array.from({ length: 40 }, (_, i) => audio(100 + i, 500 + i * 1500));
    const acks = await Promise.all(chunks.map((chunk, sequence) => socket.emitWithAck('recording:chunk', { callId: 'e2e-sio-1', chunk, sequence })));
    expect(acks.map((a: { sequence: number }) => a.sequence)).toEqual(chunks.map((_, i) => i));
    const stopped = once<{ size: number }>(socket, 'recording:stopped');
    socket.emit('recording:stop', { callId: 'e2e-sio-1' });
    const expected = Buffer.concat(chunks);
    expect((await stopped).size).toBe(expected.length);
    expect((await download('e2e-sio', started.recordingId)).equals(expected)).toBe(true);
    const refused = io(dev.url, { transports: ['websocket'], auth: { token: 'wrong' }, reconnection: false });
    const error = await once<Error & { data?: { code: string } }>(refused, 'connect_error');
    expect(error.data?.code).toBe('unauthorized');
    refused.close();
    socket.close();
  });

  it('shows a live call as `recording` from started on, with the acked size, and serves no audio until it is finalized', async () => {
    const client = await PlainSocket.open('e2e-visible');
    client.send({ type: 'start', callId: 'e2e-visible-1', format: 'webm', callerPhone: '+14155550100' });
    const started = await client.next((f) => f.type === 'started');
    const id = String(started.recordingId);
    const chunks = Array.from({ length: 30 }, (_, i) => audio(500 + i, 3000));
    for (const [i, chunk] of chunks.entries()) await client.chunk(i, chunk);
    const acked = 30 * 3000;
    const first = (await (await api('e2e-visible', `/recordings/${id}`)).json()) as Record<string, unknown>;
    expect(first).toMatchObject({ id, status: 'recording', endTime: null, callId: 'e2e-visible-1', callerPhone: '+14155550100', format: 'webm' });
    expect(Number(first.size)).toBeLessThanOrEqual(acked);
    const listed = (await (await api('e2e-visible', '/recordings?status=recording')).json()) as { items: { id: string }[] };
    expect(listed.items.map((r) => r.id)).toContain(id);
    for (const path of [`/recordings/${id}/download`, `/recordings/${id}/stream`]) {
      const res = await api('e2e-visible', path);
      expect(res.status).toBe(409);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('conflict');
    }
    // The size catches up with the acked bytes within 10 s.
    let size = Number(first.size);
    for (let waited = 0; size < acked && waited < 12_000; waited += 500) {
      await new Promise((r) => setTimeout(r, 500));
      size = Number(((await (await api('e2e-visible', `/recordings/${id}`)).json()) as { size: number }).size);
    }
    expect(size).toBe(acked);
    client.send({ type: 'stop' });
    await client.next((f) => f.type === 'stopped');
    const after = (await (await api('e2e-visible', `/recordings/${id}`)).json()) as Record<string, unknown>;
    expect(after).toMatchObject({ status: expect.stringMatching(/^(processing|ready|failed)$/), size: acked });
    expect(after.endTime).not.toBeNull();
    expect((await download('e2e-visible', id)).equals(Buffer.concat(chunks))).toBe(true);
    client.ws.close();
  }, 60_000);

  it('refuses over a real socket: start by an auditor, a call that is not audio, a fourth namespace connect after 3 failures', async () => {
    const auditor = await PlainSocket.open('e2e-auditor', 'auditor');
    auditor.send({ type: 'start', callId: 'e2e-auditor-1', format: 'webm' });
    expect(await auditor.next((f) => f.type === 'error')).toMatchObject({ code: 'forbidden', callId: 'e2e-auditor-1' });
    auditor.ws.close();

    const sniffed = await PlainSocket.open('e2e-sniff');
    sniffed.send({ type: 'start', callId: 'e2e-sniff-1', format: 'webm' });
    const started = await sniffed.next((f) => f.type === 'started');
    const frame = Buffer.concat([Buffer.alloc(4), Buffer.from('#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:9/segment.ts\n')]);
    sniffed.ws.send(frame);
    expect(await sniffed.next((f) => f.type === 'error')).toMatchObject({ code: 'unsupported_media_type', callId: 'e2e-sniff-1' });
    expect(await (await api('e2e-sniff', `/recordings/${started.recordingId}`)).json()).toMatchObject({ status: 'failed', size: 0 });
    sniffed.ws.close();

    const raw = new WebSocket(`${dev.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    const received: string[] = [];
    raw.on('message', (data) => received.push(String(data)));
    const closed = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      raw.once('open', () => resolve());
      raw.once('error', reject);
    });
    for (const guess of ['guess-1', 'guess-2', 'guess-3']) raw.send(`40${JSON.stringify({ token: guess })}`);
    expect(await closed).toBe(1008);
    expect(received.filter((m) => m.startsWith('44'))).toHaveLength(3);
  });

  it('loses nothing acked when wrangler dev is killed and restarted mid-call (both protocols)', async () => {
    const plainChunks = Array.from({ length: 12 }, (_, i) => audio(200 + i, 20_000));
    const sioChunks = Array.from({ length: 12 }, (_, i) => audio(300 + i, 9_000));

    const plain = await PlainSocket.open('e2e-restart');
    plain.send({ type: 'start', callId: 'restart-plain', format: 'webm' });
    const plainStarted = await plain.next((f) => f.type === 'started');
    for (let i = 0; i < 6; i++) await plain.chunk(i, plainChunks[i]!);

    const directChunks = Array.from({ length: 12 }, (_, i) => audio(400 + i, 120));
    const direct = await PlainSocket.open('e2e-restart', undefined, 'restart-direct');
    direct.send({ type: 'start', callId: 'restart-direct', format: 'webm' });
    const directStarted = await direct.next((f) => f.type === 'started');
    for (let i = 0; i < 6; i++) await direct.chunk(i, directChunks[i]!);

    const socket = connectSocketIo(await tokenFor('e2e-restart'));
    // The documented client's way: (re)start the call on every connect, then send from nextSequence.
    const starts: { recordingId: string; nextSequence: number }[] = [];
    socket.on('connect', () => socket.emit('recording:start', { callId: 'restart-sio', format: 'webm' }, (s: { recordingId: string; nextSequence: number }) => starts.push(s)));
    await once(socket, 'recording:started');
    for (let i = 0; i < 6; i++) await socket.emitWithAck('recording:chunk', { callId: 'restart-sio', chunk: sioChunks[i], sequence: i });

    // Listening before the restart: the client may reconnect and resume before the plain part below is done.
    const sioResumed = once<{ recordingId: string; nextSequence: number }>(socket, 'recording:started', (s) => s.nextSequence === 6, 60_000);
    await dev.restart();
    await plain.closed;

    const again = await PlainSocket.open('e2e-restart');
    again.send({ type: 'start', callId: 'restart-plain', format: 'webm' });
    const resumed = await again.next((f) => f.type === 'started', 15_000, 'started after restart');
    expect(resumed).toMatchObject({ recordingId: plainStarted.recordingId, nextSequence: 6 });
    for (let i = 6; i < 12; i++) await again.chunk(i, plainChunks[i]!);
    again.send({ type: 'stop' });
    const plainStopped = await again.next((f) => f.type === 'stopped', 15_000, 'stopped after restart');
    expect(plainStopped.size).toBe(12 * 20_000);
    expect((await download('e2e-restart', String(plainStarted.recordingId))).equals(Buffer.concat(plainChunks))).toBe(true);

    await direct.closed;
    const directAgain = await PlainSocket.open('e2e-restart', undefined, 'restart-direct');
    directAgain.send({ type: 'start', callId: 'restart-direct', format: 'webm' });
    expect(await directAgain.next((f) => f.type === 'started', 15_000, 'direct started after restart')).toMatchObject({ recordingId: directStarted.recordingId, nextSequence: 6 });
    for (let i = 6; i < 12; i++) await directAgain.chunk(i, directChunks[i]!);
    directAgain.send({ type: 'stop' });
    expect(await directAgain.next((f) => f.type === 'stopped', 15_000, 'direct stopped')).toMatchObject({ size: 12 * 120 });
    expect((await download('e2e-restart', String(directStarted.recordingId))).equals(Buffer.concat(directChunks))).toBe(true);
    directAgain.ws.close();

    // socket.io-client reconnects by itself; its connect handler resumes the call.
    expect(await sioResumed).toMatchObject({ recordingId: starts[0]!.recordingId, nextSequence: 6 });
    for (let i = 6; i < 12; i++) await socket.emitWithAck('recording:chunk', { callId: 'restart-sio', chunk: sioChunks[i], sequence: i });
    const sioStopped = await socket.emitWithAck('recording:stop', { callId: 'restart-sio' });
    expect(sioStopped).toMatchObject({ ok: true, size: 12 * 9_000 });
    expect((await download('e2e-restart', starts[0]!.recordingId)).equals(Buffer.concat(sioChunks))).toBe(true);
    socket.close();
    again.ws.close();
  }, 120_000);

  it('?acks=binary: acks as 5-byte binary records (flag, big-endian sequence), in order with the JSON frames; refused without ?callId=', async () => {
    const token = await tokenFor('e2e-binary-acks');
    const base = `${dev.url.replace('http', 'ws')}/api/v1/recordings/live`;
    const ws = new WebSocket(`${base}?callId=binary-acks&acks=binary`, { headers: { authorization: `Bearer ${token}` } });
    const received: ({ flag: number; sequence: number } | Frame)[] = [];
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return received.push(JSON.parse(String(data)) as Frame);
      const bytes = data as Buffer;
      expect(bytes.length % 5).toBe(0);
      for (let at = 0; at < bytes.length; at += 5) received.push({ flag: bytes.readUInt8(at), sequence: bytes.readUInt32BE(at + 1) });
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const until = async (count: number) => {
      for (let i = 0; i < 500 && received.length < count; i++) await new Promise((r) => setTimeout(r, 20));
      expect(received.length).toBeGreaterThanOrEqual(count);
    };
    const chunks = Array.from({ length: 40 }, (_, i) => audio(7000 + i, 300));
    const send = (sequence: number) => {
      const frame = Buffer.alloc(4 + 300);
      frame.writeUInt32BE(sequence, 0);
      chunks[sequence]!.copy(frame, 4);
      ws.send(frame);
    };
    ws.send(JSON.stringify({ type: 'start', callId: 'binary-acks', format: 'webm' }));
    await until(1);
    const started = received.shift() as Frame;
    expect(started).toMatchObject({ type: 'started', nextSequence: 0 });
    // Many at once (several acks per binary frame), then a duplicate.
    for (let i = 0; i < 30; i++) send(i);
    send(3);
    await until(31);
    ws.send(JSON.stringify({ type: 'pause' }));
    await until(32);
    send(30);
    await until(33);
    ws.send(JSON.stringify({ type: 'resume' }));
    await until(34);
    for (let i = 31; i < 40; i++) send(i);
    ws.send(JSON.stringify({ type: 'stop' }));
    await until(44);
    expect(received.slice(0, 30)).toEqual(Array.from({ length: 30 }, (_, sequence) => ({ flag: 0, sequence })));
    expect(received.slice(30, 34)).toMatchObject([{ flag: 1, sequence: 3 }, { type: 'paused' }, { flag: 2, sequence: 30 }, { type: 'resumed' }]);
    expect(received.slice(34, 43)).toEqual(Array.from({ length: 9 }, (_, i) => ({ flag: 0, sequence: 31 + i })));
    const expected = Buffer.concat(chunks.filter((_, i) => i !== 30));
    expect(received[43]).toMatchObject({ type: 'stopped', recordingId: started.recordingId, size: expected.length });
    expect((await download('e2e-binary-acks', String(started.recordingId))).equals(expected)).toBe(true);
    ws.close();

    for (const query of ['?acks=binary', '?callId=x&acks=yes']) {
      const refused = new WebSocket(`${base}${query}`, { headers: { authorization: `Bearer ${token}` } });
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        refused.once('open', () => reject(new Error(`${query} was accepted`)));
        refused.once('unexpected-response', (_request, response) => {
          let text = '';
          response.on('data', (piece: Buffer) => (text += piece));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        });
      });
      expect(status).toBe(400);
      expect((JSON.parse(body) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/^acks:/) });
    }
  }, 60_000);

  it("the web app's uploader (?callId=) keeps recording across a token that expires mid-call: a fresh token, a reconnect, resumed from nextSequence", async () => {
    // Expires for the service 3 s from now (exp is 27 s ago; JWT_CLOCK_TOLERANCE_SECONDS is 30).
    const shortLived = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('e2e-renew')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 60)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 27)
      .sign(new TextEncoder().encode(TEST_SECRETS.JWT_SECRET));
    let token = shortLived;
    let renewals = 0;
    const upload = new LiveUpload({
      url: () => `${dev.url.replace('http', 'ws')}/api/v1/recordings/live?callId=renew-call&token=${encodeURIComponent(token)}`,
      start: { callId: 'renew-call', format: 'webm' },
      renewCredentials: async () => {
        renewals++;
        token = await tokenFor('e2e-renew');
        return true;
      },
      initialBackoffMs: 50,
    });
    const chunks = Array.from({ length: 60 }, (_, i) => audio(9000 + i, 400));
    for (const chunk of chunks) {
      upload.push(new Uint8Array(chunk));
      await new Promise((r) => setTimeout(r, 100));
    }
    const result = await upload.stop();
    expect(renewals).toBe(1);
    expect(upload.state.reconnects).toBeGreaterThanOrEqual(1);
    expect(result.size).toBe(60 * 400);
    expect((await download('e2e-renew', result.recordingId)).equals(Buffer.concat(chunks))).toBe(true);
  }, 60_000);

  it('loses nothing acked when killed while chunks stream in (group commit: many frames per write, ?callId=)', async () => {
    const chunks = Array.from({ length: 3000 }, (_, i) => audio(5000 + i, 120));
    const direct = await PlainSocket.open('e2e-kill-load', undefined, 'kill-load');
    direct.send({ type: 'start', callId: 'kill-load', format: 'webm' });
    const started = await direct.next((f) => f.type === 'started');
    const acked = new Set<number>();
    direct.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(String(data)) as Frame;
      if (frame.type === 'ack' && frame.duplicate !== true) acked.add(Number(frame.sequence));
    });
    // A chunk every millisecond or so, without waiting for acks: batches of many frames are in flight when the runtime dies.
    let sent = 0;
    const sender = setInterval(() => {
      for (let n = 0; n < 4 && sent < chunks.length && direct.ws.readyState === WebSocket.OPEN; n++, sent++) {
        const frame = Buffer.alloc(4 + 120);
        frame.writeUInt32BE(sent, 0);
        chunks[sent]!.copy(frame, 4);
        direct.ws.send(frame);
      }
    }, 2);
    while (acked.size < 600) await new Promise((r) => setTimeout(r, 5));
    await dev.restart();
    clearInterval(sender);
    await direct.closed;
    const highestAcked = Math.max(...acked);
    expect(sent).toBeGreaterThan(highestAcked);

    const again = await PlainSocket.open('e2e-kill-load', undefined, 'kill-load');
    again.send({ type: 'start', callId: 'kill-load', format: 'webm' });
    const resumed = await again.next((f) => f.type === 'started', 15_000, 'started after the kill');
    expect(resumed.recordingId).toBe(started.recordingId);
    // Every ack was for a chunk that is durable: the call resumes after the highest of them.
    const next = Number(resumed.nextSequence);
    expect(next).toBeGreaterThan(highestAcked);
    for (let i = next; i < chunks.length; i += 50) await Promise.all(chunks.slice(i, i + 50).map((chunk, j) => again.chunk(i + j, chunk)));
    again.send({ type: 'stop' });
    expect(await again.next((f) => f.type === 'stopped', 30_000, 'stopped after the kill')).toMatchObject({ size: chunks.length * 120, gaps: [] });
    expect((await download('e2e-kill-load', String(started.recordingId))).equals(Buffer.concat(chunks))).toBe(true);
    again.ws.close();
  }, 120_000);
});
