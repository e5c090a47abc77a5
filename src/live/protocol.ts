/**
 * What both wire protocols (plain WebSocket and Socket.IO) share: the commands a client sends,
 * the events a call answers with, the error codes of error frames and the limits. The codecs in
 * plain-protocol.ts and socket-io.ts only translate frames to and from these shapes.
 */
import { z } from '@hono/zod-openapi';
import type { AudioFormat } from '../domain/audio-format';
import { E164 } from '../domain/schemas';

export const LIVE_LIMITS = {
  /** Audio bytes in one chunk: far below the 1 MiB WebSocket message limit and the 2 MB SQLite row limit. */
  maxChunkBytes: 256 * 1024,
  /** A chunk may run at most this many sequence numbers ahead of `nextSequence` (about 10 s of 20 ms chunks). */
  sequenceWindow: 512,
  /** Out-of-order chunks held while waiting for a gap to fill, in bytes. */
  maxBufferedBytes: 8 * 1024 * 1024,
  /** Calls a principal may have open at once (started and not yet finalized). */
  maxCallsPerUser: 10,
  maxCallIdLength: 200,
} as const;

/** Error frame codes. HTTP-style names where the meaning is the same as in the REST API. */
export type LiveErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'consent_required'
  | 'not_started'
  | 'wrong_call'
  | 'sequence_out_of_window'
  | 'payload_too_large'
  | 'too_many_calls'
  | 'rate_limited'
  | 'unsupported_media_type'
  | 'call_finished'
  | 'service_unavailable'
  | 'internal';

export interface Pause {
  at: string;
  durationMs: number;
}

export interface Gap {
  fromSequence: number;
  toSequence: number;
}

/** What a call answers; each protocol renders these as its own frames or events. */
export type CallEvent =
  | { type: 'started'; callId: string; recordingId: string; nextSequence: number; paused: boolean }
  /** `duplicate`: already had it; `dropped`: arrived while paused, so not stored (the sequence is consumed). */
  | { type: 'ack'; callId: string; sequence: number; duplicate?: true; dropped?: true }
  | { type: 'paused'; callId: string; at: string }
  | { type: 'resumed'; callId: string; durationMs: number }
  | { type: 'stopped'; callId: string; recordingId: string; size: number; pauses: Pause[]; gaps: Gap[] }
  | { type: 'error'; callId?: string; code: LiveErrorCode; message: string };

export type ErrorEvent = Extract<CallEvent, { type: 'error' }>;

export const liveError = (code: LiveErrorCode, message: string, callId?: string): ErrorEvent => ({ type: 'error', ...(callId === undefined ? {} : { callId }), code, message });

export const CallId = z
  .string({ message: 'is required' })
  .min(1, 'is required')
  .max(LIVE_LIMITS.maxCallIdLength, `must be at most ${LIVE_LIMITS.maxCallIdLength} characters`);

/** Format names, and the MIME types and aliases clients send (`audio/webm;codecs=opus`, `opus`). */
const FORMAT_ALIASES: Record<string, AudioFormat> = {
  wav: 'wav', wave: 'wav', 'audio/wav': 'wav', 'audio/x-wav': 'wav', 'audio/wave': 'wav',
  webm: 'webm', 'audio/webm': 'webm',
  ogg: 'ogg', opus: 'ogg', 'audio/ogg': 'ogg', 'audio/opus': 'ogg',
  mp3: 'mp3', mpeg: 'mp3', 'audio/mpeg': 'mp3', 'audio/mp3': 'mp3',
  m4a: 'm4a', mp4: 'm4a', aac: 'm4a', 'audio/mp4': 'm4a', 'audio/aac': 'm4a', 'audio/x-m4a': 'm4a',
  flac: 'flac', 'audio/flac': 'flac', 'audio/x-flac': 'flac',
};

/** The container the client records in; WebM (what `MediaRecorder` makes) when absent. */
export const LiveFormat = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return 'webm' as AudioFormat;
    const format = FORMAT_ALIASES[value.split(';')[0]!.trim().toLowerCase()];
    if (!format) {
      ctx.addIssue({ code: 'custom', message: 'must be one of wav, webm, ogg, mp3, m4a, flac (or their audio/* type)' });
      return z.NEVER;
    }
    return format;
  });

export const StartFields = z.object({
  callId: CallId,
  format: LiveFormat,
  callerPhone: E164.optional(),
  receiverPhone: E164.optional(),
});
export type StartFields = z.infer<typeof StartFields>;

/** A client's intent, whatever protocol carried it. */
export type LiveCommand =
  | { kind: 'start'; fields: StartFields }
  | { kind: 'chunk'; callId?: string; sequence: number; data: Uint8Array }
  | { kind: 'pause' | 'resume' | 'stop'; callId?: string };

/** The first zod issue as `field: message`, the way the REST API words validation errors. */
export function describeIssue(error: z.ZodError, where: string): string {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : where;
  return `${field}: ${issue?.message ?? 'is invalid'}`;
}

/** Checks shared by both protocols before a chunk travels to its call. */
export function checkChunk(sequence: unknown, data: Uint8Array, callId?: string): ErrorEvent | null {
  if (typeof sequence !== 'number' || !Number.isInteger(sequence) || sequence < 0 || sequence > 0xffff_ffff) {
    return liveError('invalid_request', 'sequence: must be an integer from 0 to 4294967295', callId);
  }
  if (data.length > LIVE_LIMITS.maxChunkBytes) {
    return liveError('payload_too_large', `A chunk may hold at most ${LIVE_LIMITS.maxChunkBytes} bytes of audio, got ${data.length}`, callId);
  }
  return null;
}
