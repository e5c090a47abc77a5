/**
 * Test clients for the live protocols inside workerd: a plain-protocol client, and a small
 * Socket.IO client made of the same parser packages (the real socket.io-client runs in the Node
 * end-to-end test). Both collect every server frame and let a test wait for the one it expects.
 */
import { env } from 'cloudflare:test';
import { decodePacket, encodePacket } from 'engine.io-parser';
import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';
import { callStub } from '../../src/live/routing';
import { as, call, tokenFor } from '../support/auth';
import { bytesOf } from '../support/recordings';

export type Frame = Record<string, unknown> & { type?: string };

/** Collects values and hands them to waiters that match them, in arrival order. */
class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: { match: (item: T) => boolean; resolve: (item: T) => void }[] = [];
  closed: { code: number; reason: string } | null = null;

  push(item: T): void {
    const index = this.waiters.findIndex((w) => w.match(item));
    if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(item);
    else this.items.push(item);
  }

  take(match: (item: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
    const index = this.items.findIndex(match);
    if (index >= 0) return Promise.resolve(this.items.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; unclaimed: ${JSON.stringify(this.items).slice(0, 500)}`)), timeoutMs);
      this.waiters.push({ match, resolve: (item) => (clearTimeout(timer), resolve(item)) });
    });
  }

  all(): T[] {
    return [...this.items];
  }
}

export function chunkFrame(sequence: number, data: Uint8Array): ArrayBuffer {
  const frame = new Uint8Array(4 + data.length);
  new DataView(frame.buffer).setUint32(0, sequence);
  frame.set(data, 4);
  return frame.buffer;
}

export class PlainClient {
  readonly inbox = new Inbox<Frame>();

  constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (event) => this.inbox.push(JSON.parse(event.data as string) as Frame));
    ws.addEventListener('close', (event) => {
      this.inbox.closed = { code: event.code, reason: event.reason };
    });
  }

  send(frame: Record<string, unknown> | string | ArrayBuffer): void {
    this.ws.send(typeof frame === 'string' || frame instanceof ArrayBuffer ? frame : JSON.stringify(frame));
  }

  next(type: string, match: (frame: Frame) => boolean = () => true): Promise<Frame> {
    return this.inbox.take((f) => f.type === type && match(f), type);
  }

  async start(callId: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    this.send({ type: 'start', callId, format: 'webm', ...extra });
    return this.inbox.take((f) => f.type === 'started' || f.type === 'error', `started ${callId}`);
  }

  sendChunk(sequence: number, data: Uint8Array): void {
    this.send(chunkFrame(sequence, data));
  }

  ack(sequence: number): Promise<Frame> {
    return this.inbox.take((f) => f.type === 'ack' && f.sequence === sequence, `ack ${sequence}`);
  }

  error(code?: string): Promise<Frame> {
    return this.inbox.take((f) => f.type === 'error' && (code === undefined || f.code === code), `error ${code ?? ''}`);
  }

  async chunk(sequence: number, data: Uint8Array): Promise<Frame> {
    this.sendChunk(sequence, data);
    return this.ack(sequence);
  }

  async stop(): Promise<Frame> {
    this.send({ type: 'stop' });
    return this.inbox.take((f) => f.type === 'stopped' || f.type === 'error', 'stopped');
  }

  close(): void {
    this.ws.close(1000, 'done');
  }
}

export async function upgrade(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return call(path, { headers: { upgrade: 'websocket', ...headers } });
}

export async function openPlain(user: string, role?: 'user' | 'admin' | 'auditor'): Promise<PlainClient> {
  return openPlainWith(await as(user, role));
}

/** A plain socket that names its call at the upgrade: held by the call's own object. */
export async function openPlainCall(user: string, callId: string): Promise<PlainClient> {
  return openPlainWith(await as(user), `?callId=${encodeURIComponent(callId)}`);
}

export async function openPlainWith(headers: Record<string, string>, query = ''): Promise<PlainClient> {
  const res = await upgrade(`/api/v1/recordings/live${query}`, headers);
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade answered ${res.status}: ${await res.text()}`);
  res.webSocket.accept();
  return new PlainClient(res.webSocket);
}

/** The first bytes the service's sniffer recognises, per declared format. */
export const MAGIC: Record<'webm' | 'ogg', number[]> = { webm: [0x1a, 0x45, 0xdf, 0xa3], ogg: [0x4f, 0x67, 0x67, 0x53] };

/** Deterministic audio-like bytes: chunk `i` of `size` bytes, starting with the container's magic (so that it can be a call's first chunk). */
export function audio(i: number, size: number, format: 'webm' | 'ogg' = 'webm'): Uint8Array {
  const out = new Uint8Array(size);
  let x = (i + 1) * 2654435761;
  for (let j = 0; j < size; j++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[j] = x >>> 24;
  }
  out.set(MAGIC[format].slice(0, size));
  return out;
}

export { concatBytes as concat } from '../../src/encoding';

export async function download(user: string, recordingId: string): Promise<Uint8Array> {
  const res = await call(`/api/v1/recordings/${recordingId}/download`, { headers: await as(user) });
  if (res.status !== 200) throw new Error(`download answered ${res.status}: ${await res.text()}`);
  return bytesOf(res);
}

export async function recording(user: string, recordingId: string): Promise<Record<string, unknown>> {
  const res = await call(`/api/v1/recordings/${recordingId}`, { headers: await as(user) });
  if (res.status !== 200) throw new Error(`metadata answered ${res.status}: ${await res.text()}`);
  return res.json();
}

export const stubFor = (user: string, callId: string) => callStub(env, user, callId);

/** A minimal Socket.IO v4 client over the Worker's WebSocket, built on the same parser packages. */
export class SocketIoClient {
  readonly engine = new Inbox<{ type: string; data?: unknown }>();
  readonly packets = new Inbox<Packet>();
  private readonly decoder = new Decoder();
  private readonly encoder = new Encoder();
  private ackIds = 0;

  constructor(readonly ws: WebSocket) {
    this.decoder.on('decoded', (packet: Packet) => this.packets.push(packet));
    ws.addEventListener('message', (event) => {
      const packet = decodePacket(event.data as string | ArrayBuffer, 'arraybuffer');
      if (packet.type === 'message') this.decoder.add(packet.data);
      else {
        if (packet.type === 'ping') this.raw('3');
        this.engine.push(packet);
      }
    });
    ws.addEventListener('close', (event) => {
      this.packets.closed = { code: event.code, reason: event.reason };
    });
  }

  raw(frame: string | ArrayBuffer): void {
    this.ws.send(frame);
  }

  private sendPacket(packet: Packet): void {
    for (const data of this.encoder.encode(packet)) {
      encodePacket({ type: 'message', data }, true, (encoded) => this.raw(encoded as string | ArrayBuffer));
    }
  }

  connect(auth?: Record<string, unknown>, nsp = '/'): Promise<Packet> {
    this.sendPacket({ type: PacketType.CONNECT, nsp, data: auth });
    return this.packets.take((p) => p.type === PacketType.CONNECT || p.type === PacketType.CONNECT_ERROR, 'connect answer');
  }

  emit(event: string, body: unknown, withAck = false): number | undefined {
    const id = withAck ? ++this.ackIds : undefined;
    this.sendPacket({ type: PacketType.EVENT, nsp: '/', data: [event, body], ...(id === undefined ? {} : { id }) });
    return id;
  }

  event(name: string, match: (body: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    return this.packets
      .take((p) => p.type === PacketType.EVENT && (p.data as unknown[])[0] === name && match((p.data as unknown[])[1] as Record<string, unknown>), name)
      .then((p) => (p.data as unknown[])[1] as Record<string, unknown>);
  }

  ackReply(id: number): Promise<Record<string, unknown>> {
    return this.packets.take((p) => p.type === PacketType.ACK && p.id === id, `ack callback ${id}`).then((p) => (p.data as unknown[])[0] as Record<string, unknown>);
  }
}

export async function openSocketIo(headers: Record<string, string> = {}, query = 'EIO=4&transport=websocket'): Promise<{ client: SocketIoClient; open: Record<string, unknown> }> {
  const res = await upgrade(`/socket.io/?${query}`, headers);
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade answered ${res.status}: ${await res.text()}`);
  res.webSocket.accept();
  const client = new SocketIoClient(res.webSocket);
  const open = await client.engine.take((p) => p.type === 'open', 'open packet');
  return { client, open: JSON.parse(open.data as string) as Record<string, unknown> };
}

export { tokenFor };
