/**
 * Socket.IO v4 over a WebSocket (Engine.IO protocol 4), framed by `engine.io-parser` and
 * `socket.io-parser`. One WebSocket frame is one Engine.IO packet; a Socket.IO packet with binary
 * attachments (a chunk sent as a Buffer) is a text frame with placeholders followed by one binary
 * frame per attachment, which the decoder joins back together. Only the websocket transport and
 * the main namespace "/" exist here.
 */
import { decodePacket, encodePacket, type Packet as EnginePacket } from 'engine.io-parser';
import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';
import { CallId, StartFields, checkChunk, describeIssue, liveError, type CallEvent, type ErrorEvent, type LiveCommand } from './protocol';
import { base64ToBytes } from '../encoding';

/** Announced in the open packet: the server pings every pingInterval, the client answers within pingTimeout. */
export const ENGINE_IO = { pingIntervalMs: 25_000, pingTimeoutMs: 20_000, maxPayload: 1_000_000 } as const;

const encoder = new Encoder();

function engineFrame(packet: EnginePacket): string | ArrayBuffer {
  let frame: string | ArrayBuffer = '';
  // Synchronous for strings and ArrayBuffers (only Blobs take a callback later).
  encodePacket(packet, true, (encoded) => {
    frame = encoded as string | ArrayBuffer;
  });
  return frame;
}

const socketFrames = (packet: Packet): (string | ArrayBuffer)[] => encoder.encode(packet).map((data) => engineFrame({ type: 'message', data }));

export const openFrame = (sid: string) =>
  engineFrame({
    type: 'open',
    data: JSON.stringify({ sid, upgrades: [], pingInterval: ENGINE_IO.pingIntervalMs, pingTimeout: ENGINE_IO.pingTimeoutMs, maxPayload: ENGINE_IO.maxPayload }),
  });

export const pingFrame = () => engineFrame({ type: 'ping' });
export const pongFrame = () => engineFrame({ type: 'pong' });
export const connectFrames = (sid: string) => socketFrames({ type: PacketType.CONNECT, nsp: '/', data: { sid } });
export const connectErrorFrames = (nsp: string, message: string, code: string) => socketFrames({ type: PacketType.CONNECT_ERROR, nsp, data: { message, data: { code } } });

/** Server event name for each call event: `recording:started`, `recording:ack`, … */
const eventName = (event: CallEvent) => `recording:${event.type}`;

function payloadOf(event: CallEvent): Record<string, unknown> {
  const { type: _type, ...payload } = event;
  return payload;
}

/** Frames that emit `event`, and answer the client's acknowledgement callback `ackId` with it. */
export function eventFrames(event: CallEvent, ackId?: number): (string | ArrayBuffer)[] {
  const frames = socketFrames({ type: PacketType.EVENT, nsp: '/', data: [eventName(event), payloadOf(event)] });
  if (ackId !== undefined) frames.push(...socketFrames({ type: PacketType.ACK, nsp: '/', id: ackId, data: [{ ok: event.type !== 'error', ...payloadOf(event) }] }));
  return frames;
}

export type EngineInput =
  | { kind: 'ping' | 'pong' | 'close' | 'noop' }
  | { kind: 'packet'; packet: Packet }
  /** A binary attachment is still expected: nothing to do yet. */
  | { kind: 'partial' }
  | { kind: 'invalid'; message: string };

/**
 * Decodes one WebSocket's frames. The decoder holds a packet whose attachments have not all
 * arrived yet, in memory only: the text frame and its binary frame come back to back, and if the
 * object were evicted in between, the binary frame is refused (the chunk is not acked, so the
 * client sends it again).
 */
export class SocketIoDecoder {
  private decoder = this.fresh();
  private decoded: Packet[] = [];

  private fresh(): Decoder {
    const decoder = new Decoder({ maxAttachments: 1 });
    decoder.on('decoded', (packet: Packet) => this.decoded.push(packet));
    return decoder;
  }

  decode(frame: string | ArrayBuffer): EngineInput {
    const engine = decodePacket(frame, 'arraybuffer');
    switch (engine.type) {
      case 'ping':
      case 'pong':
      case 'close':
      case 'noop':
        return { kind: engine.type };
      case 'message':
        break;
      default:
        return { kind: 'invalid', message: 'Unknown Engine.IO packet' };
    }
    try {
      this.decoder.add(engine.data);
    } catch (error) {
      this.decoder.destroy();
      this.decoder = this.fresh();
      this.decoded = [];
      return { kind: 'invalid', message: `Malformed Socket.IO packet (${error instanceof Error ? error.message : 'unreadable'})` };
    }
    const packet = this.decoded.shift();
    return packet ? { kind: 'packet', packet } : { kind: 'partial' };
  }
}

/** Audio from a chunk field: a binary attachment (ArrayBuffer or a view), or base64 text from clients that cannot send binary. */
function chunkBytes(value: unknown): Uint8Array | null {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') {
    try {
      return base64ToBytes(value);
    } catch {
      return null;
    }
  }
  return null;
}

const asObject = (value: unknown): Record<string, unknown> => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {});

/** The command an EVENT packet carries (with its acknowledgement id), or the error that answers it. */
export function eventCommand(packet: Packet): { command: LiveCommand | ErrorEvent; ackId?: number } {
  const ackId = packet.id;
  const [name, body] = Array.isArray(packet.data) ? (packet.data as unknown[]) : [];
  const fields = asObject(body);
  const callId = typeof fields.callId === 'string' ? fields.callId : undefined;
  const idCheck = CallId.safeParse(fields.callId);
  const badId = () => liveError('invalid_request', describeIssue(idCheck.error!, 'callId'), callId);
  switch (name) {
    case 'recording:start': {
      const parsed = StartFields.safeParse(fields);
      return { ackId, command: parsed.success ? { kind: 'start', fields: parsed.data } : liveError('invalid_request', describeIssue(parsed.error, 'data'), callId) };
    }
    case 'recording:chunk': {
      if (!idCheck.success) return { ackId, command: badId() };
      const data = chunkBytes(fields.chunk);
      if (!data) return { ackId, command: liveError('invalid_request', 'chunk: must be binary (a Buffer, ArrayBuffer or typed array) or base64 text', callId) };
      const problem = checkChunk(fields.sequence, data, callId);
      return { ackId, command: problem ?? { kind: 'chunk', callId: idCheck.data, sequence: fields.sequence as number, data } };
    }
    case 'recording:stop':
    case 'recording:pause':
    case 'recording:resume':
      if (!idCheck.success) return { ackId, command: badId() };
      return { ackId, command: { kind: name.slice('recording:'.length) as 'stop' | 'pause' | 'resume', callId: idCheck.data } };
    default:
      return { ackId, command: liveError('invalid_request', `Unknown event ${JSON.stringify(String(name))}: expected recording:start, chunk, stop, pause or resume`, callId) };
  }
}
