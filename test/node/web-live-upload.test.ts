/**
 * The browser's live uploader (src/web/live-upload.ts) against a small server that speaks the
 * plain live protocol and misbehaves on purpose: lost acks, dropped sockets, a nextSequence ahead
 * of what the client saw acked, fatal error frames. Runs on Node's own WebSocket (the same
 * WHATWG API as browsers).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { LiveUpload } from '../../src/web/live-upload';

interface Behaviour {
  /** Whether this chunk reaches storage (false: lost in flight, never acked). */
  store?: (sequence: number, connection: number) => boolean;
  /** Whether to ack a stored chunk (false: the ack is lost). */
  ack?: (sequence: number, connection: number) => boolean;
  /** Called after each stored chunk; may close the socket. */
  afterChunk?: (sequence: number, socket: ServerSocket, connection: number) => void;
  /** An error frame instead of `started`. */
  refuseStart?: { code: string; message: string };
  /** An error frame instead of `stopped`. */
  failStop?: { code: string; message: string };
}

/** The plain protocol, in memory: chunks by sequence, nextSequence = first missing one. */
async function startServer(behaviour: Behaviour = {}) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const chunks = new Map<number, Buffer>();
  const received: { connection: number; sequence: number }[] = [];
  let connections = 0;
  const nextSequence = () => {
    let n = 0;
    while (chunks.has(n)) n++;
    return n;
  };
  const urls: string[] = [];
  server.on('connection', (socket, request) => {
    const connection = ++connections;
    urls.push(request.url ?? '');
    socket.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) {
        const frame = JSON.parse(String(data)) as { type: string; callId?: string };
        if (frame.type === 'start') {
          if (behaviour.refuseStart) return socket.send(JSON.stringify({ type: 'error', ...behaviour.refuseStart }));
          socket.send(JSON.stringify({ type: 'started', callId: frame.callId, recordingId: 'rec_test', nextSequence: nextSequence(), paused: false }));
        } else if (frame.type === 'stop' && behaviour.failStop) {
          socket.send(JSON.stringify({ type: 'error', ...behaviour.failStop }));
        } else if (frame.type === 'stop') {
          const size = [...chunks.values()].reduce((total, chunk) => total + chunk.length, 0);
          socket.send(JSON.stringify({ type: 'stopped', recordingId: 'rec_test', size, pauses: [], gaps: [] }));
        }
        return;
      }
      const sequence = data.readUInt32BE(0);
      received.push({ connection, sequence });
      if (!(behaviour.store?.(sequence, connection) ?? true)) return behaviour.afterChunk?.(sequence, socket, connection);
      chunks.set(sequence, data.subarray(4));
      if (behaviour.ack?.(sequence, connection) ?? true) socket.send(JSON.stringify({ type: 'ack', sequence }));
      behaviour.afterChunk?.(sequence, socket, connection);
    });
  });
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/api/v1/recordings/live?token=t`,
    chunks,
    received,
    connections: () => connections,
    /** The path and query each connection asked for. */
    urls,
    /** The stored chunks in order (what the finished recording would be). */
    body: () => Buffer.concat([...chunks.entries()].sort(([a], [b]) => a - b).map(([, chunk]) => chunk)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const chunk = (i: number) => new Uint8Array(Buffer.from(`chunk-${i}-`.repeat(20)));
const expected = (n: number) => Buffer.concat(Array.from({ length: n }, (_, i) => Buffer.from(chunk(i))));

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function setUp(behaviour: Behaviour, options: Partial<ConstructorParameters<typeof LiveUpload>[0]> = {}) {
  const server = await startServer(behaviour);
  const upload = new LiveUpload({ url: () => server.url, start: { callId: 'call-1', format: 'audio/webm;codecs=opus' }, initialBackoffMs: 20, maxBackoffMs: 100, ...options });
  cleanups.push(() => upload.abandon(), () => server.close());
  return { server, upload };
}

const until = async (condition: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
};

describe('LiveUpload (browser live client)', () => {
  it('resends what was never acked after the socket drops and resumes from nextSequence', async () => {
    const { server, upload } = await setUp({
      // On the first connection chunks from 3 on are lost in flight, and it dies after chunk 5.
      store: (sequence, connection) => connection > 1 || sequence < 3,
      afterChunk: (sequence, socket, connection) => {
        if (connection === 1 && sequence === 5) socket.terminate();
      },
    });
    for (let i = 0; i < 6; i++) upload.push(chunk(i));
    await until(() => server.connections() === 2 && upload.state.connection === 'open', 'the reconnect');
    for (let i = 6; i < 10; i++) upload.push(chunk(i));
    const result = await upload.stop();
    expect(result).toMatchObject({ recordingId: 'rec_test', size: expected(10).length });
    expect(server.body().equals(expected(10))).toBe(true);
    // The server had 0–2 (nextSequence 3): 3–5 went out again, then the rest.
    expect(server.received.filter((r) => r.connection === 2).map((r) => r.sequence)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(upload.state.resent).toBe(3);
    expect(upload.state).toMatchObject({ acked: 10, sent: 10, produced: 10, pendingBytes: 0, connection: 'finished' });
    expect(upload.state.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('holds chunks pushed while disconnected and sends them in order once back', async () => {
    const { server, upload } = await setUp(
      { afterChunk: (sequence, socket, connection) => connection === 1 && sequence === 1 && socket.terminate() },
      { initialBackoffMs: 300 },
    );
    upload.push(chunk(0));
    upload.push(chunk(1));
    await until(() => upload.state.connection === 'reconnecting', 'the drop');
    for (let i = 2; i < 8; i++) upload.push(chunk(i));
    expect(upload.state.sent).toBe(2);
    expect(upload.state.pendingBytes).toBeGreaterThanOrEqual(6 * chunk(0).length);
    await upload.stop();
    expect(server.body().equals(expected(8))).toBe(true);
    expect(server.received.filter((r) => r.connection === 2).map((r) => r.sequence)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('never has more than its window of chunks in flight', async () => {
    const { server, upload } = await setUp({ ack: () => false }, { window: 4 });
    for (let i = 0; i < 12; i++) upload.push(chunk(i));
    await until(() => server.received.length === 4, 'the first window');
    await new Promise((r) => setTimeout(r, 100));
    expect(server.received.map((r) => r.sequence)).toEqual([0, 1, 2, 3]);
    expect(upload.state).toMatchObject({ sent: 4, acked: 0, produced: 12 });
  });

  it('stops only once every chunk is durable, counting those below nextSequence whose ack was lost', async () => {
    const { server, upload } = await setUp({
      ack: (sequence, connection) => connection > 1 || sequence !== 2,
      afterChunk: (sequence, socket, connection) => {
        if (connection === 1 && sequence === 4) setTimeout(() => socket.terminate(), 30);
      },
    });
    for (let i = 0; i < 5; i++) upload.push(chunk(i));
    const result = await upload.stop();
    expect(result.size).toBe(expected(5).length);
    expect(server.body().equals(expected(5))).toBe(true);
    expect(server.received.filter((r) => r.connection === 2)).toEqual([]);
  });

  it('a stop the server could not finalize yet still ends the call: every chunk is durable, the server finishes it', async () => {
    const { upload } = await setUp({ failStop: { code: 'service_unavailable', message: 'Storage is unavailable; the audio is kept and the call will be finalized shortly' } });
    for (let i = 0; i < 3; i++) upload.push(chunk(i));
    expect(await upload.stop()).toEqual({ recordingId: 'rec_test', size: null, gaps: [] });
    expect(upload.state.connection).toBe('finished');
  });

  it('a token that expires mid-call does not end it: it waits for a fresh token, reconnects with it and resumes from nextSequence', async () => {
    let token = 'old';
    let renewals = 0;
    let release: (renewed: boolean) => void = () => undefined;
    const { server, upload } = await setUp(
      {
        // What the server does at the token's expiry: an unauthorized frame, then close 1008.
        afterChunk: (sequence, socket, connection) => {
          if (connection === 1 && sequence === 3) {
            socket.send(JSON.stringify({ type: 'error', callId: 'call-1', code: 'unauthorized', message: 'The token has expired; connect again with a fresh one (calls resume from nextSequence)' }));
            socket.close(1008, 'token expired');
          }
        },
      },
      {
        url: () => `${server.url.replace('token=t', `token=${token}`)}`,
        renewCredentials: () => {
          renewals++;
          return new Promise<boolean>((resolve) => (release = resolve));
        },
      },
    );
    for (let i = 0; i < 6; i++) upload.push(chunk(i));
    await until(() => renewals === 1, 'the renewal');
    // Waiting for the user: nothing failed, nothing reconnected with the old token, the audio is kept.
    await new Promise((r) => setTimeout(r, 100));
    expect(upload.state.connection).toBe('reconnecting');
    expect(upload.state.lastError).toMatch(/waiting for a fresh token/);
    expect(server.connections()).toBe(1);
    for (let i = 6; i < 9; i++) upload.push(chunk(i));
    token = 'fresh';
    release(true);
    const result = await upload.stop();
    expect(result.size).toBe(expected(9).length);
    expect(server.body().equals(expected(9))).toBe(true);
    expect(server.connections()).toBe(2);
    expect(server.urls[1]).toContain('token=fresh');
    expect(server.received.filter((r) => r.connection === 2).map((r) => r.sequence)[0]).toBeGreaterThanOrEqual(4);
  });

  it('ends the call when no fresh token comes', async () => {
    const { upload } = await setUp({ refuseStart: { code: 'unauthorized', message: 'The token has expired' } }, { renewCredentials: async () => false });
    upload.push(chunk(0));
    await expect(upload.stop()).rejects.toThrow(/unauthorized/);
    expect(upload.state.connection).toBe('failed');
  });

  it('gives up on a fatal error frame and rejects stop with its message', async () => {
    const { upload } = await setUp({ refuseStart: { code: 'consent_required', message: 'The user has not consented to recording' } });
    upload.push(chunk(0));
    await expect(upload.stop()).rejects.toThrow(/consent_required/);
    expect(upload.state.connection).toBe('failed');
  });
});
