/**
 * The plain WebSocket protocol of the contract. Text frames are JSON commands
 * (`start`, `stop`, `pause`, `resume`); a binary frame is a chunk: a 4-byte big-endian sequence
 * number, then the audio. Every server frame is JSON with a `type`, except acks on a socket opened
 * with `?acks=binary` (an opt-in beyond the contract): those are binary frames of one or more
 * 5-byte records, a flag byte (0 stored, 1 duplicate, 2 dropped while paused) and the sequence
 * (4 bytes, big-endian), in the order the acks were given.
 */
import { z } from '@hono/zod-openapi';
import { CallId, StartFields, checkChunk, describeIssue, liveError, type CallEvent, type ErrorEvent, type LiveCommand } from './protocol';

const MAX_TEXT_FRAME = 16 * 1024;

const TextCommand = z.discriminatedUnion('type', [
  StartFields.extend({ type: z.literal('start') }),
  z.object({ type: z.enum(['stop', 'pause', 'resume']), callId: CallId.optional() }),
]);

/** A command, or the error frame that answers a malformed one. */
export function decodePlainFrame(message: string | ArrayBuffer): LiveCommand | ErrorEvent {
  if (typeof message !== 'string') {
    if (message.byteLength < 4) return invalid('A binary frame is a 4-byte big-endian sequence number followed by audio');
    const sequence = new DataView(message).getUint32(0);
    const data = new Uint8Array(message, 4);
    const problem = checkChunk(sequence, data);
    return problem ?? { kind: 'chunk', sequence, data };
  }
  if (message.length > MAX_TEXT_FRAME) return invalid(`A text frame may hold at most ${MAX_TEXT_FRAME} characters`);
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch {
    return invalid('Text frames must be JSON objects with a "type"');
  }
  if (typeof json !== 'object' || json === null || !('type' in json) || !['start', 'stop', 'pause', 'resume'].includes(String(json.type))) {
    return invalid('type: must be one of start, stop, pause, resume');
  }
  const parsed = TextCommand.safeParse(json);
  if (!parsed.success) return invalid(describeIssue(parsed.error, 'frame'));
  const command = parsed.data;
  if (command.type === 'start') {
    const { type: _type, ...fields } = command;
    return { kind: 'start', fields };
  }
  return { kind: command.type, callId: command.callId };
}

export const encodePlainEvent = (event: CallEvent): string => JSON.stringify(event);

const invalid = (message: string): ErrorEvent => liveError('invalid_request', message);

/** How a plain socket's acks are framed: the contract's JSON, or binary records (`?acks=binary`). */
export type AckFraming = 'json' | 'binary';

export type AckEvent = Extract<CallEvent, { type: 'ack' }>;

export const ACK_RECORD_BYTES = 5;

export const ACK_FLAGS = { stored: 0, duplicate: 1, dropped: 2 } as const;

/** One binary frame holding these acks, in order. */
export function encodeBinaryAcks(acks: AckEvent[]): ArrayBuffer {
  const frame = new ArrayBuffer(acks.length * ACK_RECORD_BYTES);
  const view = new DataView(frame);
  acks.forEach((ack, i) => {
    view.setUint8(i * ACK_RECORD_BYTES, ack.duplicate ? ACK_FLAGS.duplicate : ack.dropped ? ACK_FLAGS.dropped : ACK_FLAGS.stored);
    view.setUint32(i * ACK_RECORD_BYTES + 1, ack.sequence);
  });
  return frame;
}
