/**
 * The consumer of the media queue and of its dead-letter queue (one `queue` handler, told apart
 * by the queue's name). A `process` job runs the recording through processRecording and marks it
 * `ready`; audio ffprobe cannot read marks it `failed` at once, the original kept; anything else
 * is retried with exponential backoff, and after max_retries Queues moves the message to the
 * dead-letter queue, whose consumer marks the recording `failed` with the last attempt's reason.
 * Delivery is at least once: a job for a recording already processed does nothing, and running
 * one twice writes the same object keys and rows again. A recording archived while it is processed
 * gets its renditions in the archive tier; one archived before its job starts is processed once it
 * is restored.
 * A processed recording whose owner consents to transcription gets a `transcribe` job of its own
 * (src/transcripts/transcribe-recording.ts): retried the same way, and when it fails for good the
 * recording stays `ready`, without transcript. It is queued after processing is saved, so a send
 * that fails (or an isolate that dies) after the save would lose it: the message is then retried,
 * and a `process` job that finds the recording already processed queues the transcription again
 * whenever one is still due (the transcribe job is idempotent, so a duplicate costs one D1 read).
 * A transcribe job that finds the recording archived is deferred; the restore sends a `process`
 * job, which queues it again the same way.
 */
import { appendAudit, auditLedger, settleAuditWrites, type AuditInput } from '../compliance/audit-log';
import { getConfig, type Bindings } from '../config';
import { createDb } from '../db/client';
import { findRecording, type RecordingRow } from '../db/recordings';
import { createLogger, describeError, type Logger } from '../observability/logger';
import { objectKeyFor } from '../storage/object-keys';
import { createBlobStore } from '../storage/select';
import { PermanentFailure, TransientFailure, transientReason } from './failures';
import { transcriptionNotDue, type NotDue } from '../transcripts/due';
import { transcribeRecording } from '../transcripts/transcribe-recording';
import type { TranscriptionDeps } from '../transcripts/engine';
import { enqueueTranscription, type MediaJob } from '../domain/media-jobs';
import { RENDITIONS, isProcessed, processRecording } from './process-recording';
import { RETRY_ACTION, lastRetry, markFailed, saveProcessed } from '../db/processing';
import { settleNewObjects } from '../compliance/tiering';
import { emitEvent, isWebhookMessage, type WebhookEvent } from '../compliance/webhooks';
import { inArchive } from '../domain/recording';

/** wrangler.toml's `max_retries` for call-recorder-media: a message is delivered up to this + 1 times. */
export const MAX_RETRIES = 5;
const BASE_DELAY_SECONDS = 30;
const MAX_DELAY_SECONDS = 3600;
const ACTOR = 'system:media';
/** The audit action of a transcription attempt (success or failure); retries have their own. */
const TRANSCRIPT_ACTION = 'transcript.automatic';
const TRANSCRIPT_RETRY_ACTION = 'transcript.automatic_retry';

/** 30 s after the first attempt, doubling each time, at most an hour. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** Math.max(0, attempts - 1));
}

const isDeadLetterQueue = (queue: string) => queue.endsWith('-dlq');

function parseJob(body: unknown): MediaJob | null {
  if (typeof body !== 'object' || body === null) return null;
  const job = body as Partial<MediaJob>;
  if (typeof job.recordingId !== 'string' || job.recordingId === '') return null;
  return job.type === 'process' || job.type === 'transcribe' ? { type: job.type, recordingId: job.recordingId } : null;
}

interface JobContext extends TranscriptionDeps {
  queue: Queue;
  log: Logger;
  audit(row: RecordingRow, event: Pick<AuditInput, 'action' | 'outcome' | 'details'>): Promise<unknown>;
  /** Wait until every audit event accepted so far is in D1 (sequencers write a moment after accepting). */
  settleAudit(): Promise<void>;
  /** Queue a webhook event (nothing when WEBHOOK_URL is unset). */
  emit(event: WebhookEvent, data: Record<string, unknown>): Promise<void>;
}

/** Remove what a run stored for a recording deleted while it ran. */
async function discardRenditions(ctx: JobContext, recordingId: string): Promise<void> {
  await Promise.all(RENDITIONS.map((quality) => ctx.store.delete(objectKeyFor(recordingId, quality))));
}

/**
 * Queue the recording's `transcribe` job when a transcript is due (src/transcripts/due.ts): `queued`,
 * or why not. Not while archived: the restore's `process` job comes back here.
 */
async function queueTranscriptionIfDue(ctx: JobContext, row: RecordingRow): Promise<'queued' | NotDue> {
  const notDue = await transcriptionNotDue(ctx.db, row);
  if (notDue) return notDue;
  await enqueueTranscription(ctx.queue, row.id);
  return 'queued';
}

async function runJob(ctx: JobContext, message: Message<unknown>, recordingId: string): Promise<void> {
  const row = await findRecording(ctx.db, recordingId);
  if (!row) {
    ctx.log.info('media job skipped: the recording is gone', { recordingId });
    return message.ack();
  }
  if (await isProcessed(ctx, row)) {
    await settleNewObjects(ctx, row.id);
    // The transcribe job may never have been sent (a failed send, a dead isolate after the save).
    const transcription = await queueTranscriptionIfDue(ctx, row);
    ctx.log.info('media job skipped: already processed', { recordingId, attempts: message.attempts, transcription });
    return message.ack();
  }
  if (inArchive(row)) {
    // The original may not be readable in the archive class (S3 Glacier, Azure Archive): the
    // recording stays `processing`, and restoring it queues this job again.
    await ctx.audit(row, { action: 'recording.processing_deferred', outcome: 'success', details: { reason: 'archived', attempts: message.attempts } });
    ctx.log.info('media job deferred: the recording is archived; its restore queues it again', { recordingId });
    return message.ack();
  }
  try {
    const processed = await processRecording(ctx, row);
    if (!(await saveProcessed(ctx.db, row.id, processed))) {
      await discardRenditions(ctx, row.id);
      return message.ack();
    }
    // Archived while this ran: the new renditions go to the archive tier too.
    await settleNewObjects(ctx, row.id);
    const saved = await findRecording(ctx.db, row.id);
    const transcription = saved ? await queueTranscriptionIfDue(ctx, saved) : 'not_ready';
    await ctx.audit(row, {
      action: 'recording.processed',
      outcome: 'success',
      details: {
        durationMs: processed.durationMs,
        format: processed.format,
        noiseReduction: ctx.config.NOISE_REDUCTION_ENABLED,
        renditions: processed.renditions.map((r) => ({ quality: r.quality, size: r.size, durationMs: r.durationMs })),
        attempts: message.attempts,
        // `queued`, or why no transcribe job was sent (`no_consent`, `service_transcript`, …).
        transcription,
      },
    });
    ctx.log.info('recording processed', { recordingId, durationMs: processed.durationMs, attempts: message.attempts });
    await ctx.emit('recording.ready', { recordingId: row.id, userId: row.userId, durationMs: processed.durationMs });
    message.ack();
  } catch (error) {
    if (!(await findRecording(ctx.db, row.id))) {
      await discardRenditions(ctx, row.id);
      return message.ack();
    }
    if (error instanceof PermanentFailure) {
      await markFailed(ctx.db, row.id, error.message);
      await ctx.audit(row, { action: 'recording.processing_failed', outcome: 'failure', details: { reason: error.message, attempts: message.attempts } });
      await ctx.emit('recording.failed', { recordingId: row.id, userId: row.userId, reason: error.message });
      ctx.log.warn('recording cannot be processed', { recordingId, reason: error.message, ...(error.detail ? { detail: error.detail } : {}) });
      return message.ack();
    }
    const reason = transientReason(error);
    const delaySeconds = retryDelaySeconds(message.attempts);
    const detail = error instanceof TransientFailure ? error.detail : undefined;
    ctx.log.warn('media job will be retried', { recordingId, attempts: message.attempts, delaySeconds, reason, ...(detail ? { detail } : {}), ...describeError(error) });
    await ctx.audit(row, { action: RETRY_ACTION, outcome: 'failure', details: { attempt: message.attempts, reason, delaySeconds } });
    message.retry({ delaySeconds });
  }
}

async function runTranscription(ctx: JobContext, message: Message<unknown>, recordingId: string): Promise<void> {
  const row = await findRecording(ctx.db, recordingId);
  if (!row) return message.ack();
  try {
    const outcome = await transcribeRecording(ctx, row);
    if (!outcome.stored && outcome.reason === 'archived') {
      await ctx.audit(row, { action: 'transcript.automatic_deferred', outcome: 'success', details: { reason: 'archived', attempts: message.attempts } });
      ctx.log.info('transcription deferred: the recording is archived; its restore queues it again', { recordingId });
      return message.ack();
    }
    if (!outcome.stored) {
      ctx.log.info('transcription skipped', { recordingId, reason: outcome.reason });
      return message.ack();
    }
    const details = { engine: outcome.engine, language: outcome.content.language, segments: outcome.content.segments.length, attempts: message.attempts };
    await ctx.audit(row, { action: TRANSCRIPT_ACTION, outcome: 'success', details });
    ctx.log.info('recording transcribed', { recordingId, ...details });
    await ctx.emit('recording.transcribed', { recordingId: row.id, userId: row.userId, engine: outcome.engine, language: outcome.content.language, segments: outcome.content.segments.length });
    message.ack();
  } catch (error) {
    if (!(await findRecording(ctx.db, row.id))) return message.ack();
    if (error instanceof PermanentFailure) {
      await ctx.audit(row, { action: TRANSCRIPT_ACTION, outcome: 'failure', details: { reason: error.message, attempts: message.attempts } });
      ctx.log.warn('recording cannot be transcribed', { recordingId, reason: error.message });
      return message.ack();
    }
    const reason = transientReason(error);
    const delaySeconds = retryDelaySeconds(message.attempts);
    ctx.log.warn('transcription will be retried', { recordingId, attempts: message.attempts, delaySeconds, reason, ...describeError(error) });
    await ctx.audit(row, { action: TRANSCRIPT_RETRY_ACTION, outcome: 'failure', details: { attempt: message.attempts, reason, delaySeconds } });
    message.retry({ delaySeconds });
  }
}

/** A transcription that used up its retries: recorded; the recording itself stays as it is. */
async function giveUpTranscription(ctx: JobContext, message: Message<unknown>, recordingId: string): Promise<void> {
  const row = await findRecording(ctx.db, recordingId);
  if (row) {
    await ctx.audit(row, { action: TRANSCRIPT_ACTION, outcome: 'failure', details: { reason: `Transcription failed after ${MAX_RETRIES + 1} attempts`, deadLetter: true } });
    ctx.log.error('transcription job dead-lettered', { recordingId });
  }
  message.ack();
}

/** A job that used up its retries: the recording becomes `failed` with the last reason. */
async function giveUp(ctx: JobContext, message: Message<unknown>, recordingId: string): Promise<void> {
  const row = await findRecording(ctx.db, recordingId);
  if (!row) return message.ack();
  // The last retry's reason is read back from the audit log in D1: first let the sequencers write it.
  await ctx.settleAudit();
  const last = await lastRetry(ctx.db, recordingId);
  const reason = last
    ? `Processing failed after ${last.attempt} attempts: ${last.reason}`
    : `Processing failed after ${MAX_RETRIES + 1} attempts`;
  if (await markFailed(ctx.db, recordingId, reason)) {
    await ctx.audit(row, { action: 'recording.processing_failed', outcome: 'failure', details: { reason, deadLetter: true } });
    await ctx.emit('recording.failed', { recordingId, userId: row.userId, reason });
    ctx.log.error('media job dead-lettered', { recordingId, reason });
  }
  message.ack();
}

/** The `queue` handler of the Worker, for both queues. */
export async function handleMediaBatch(batch: MessageBatch<unknown>, env: Bindings): Promise<void> {
  const config = getConfig(env);
  const db = createDb(env.DB);
  const log = createLogger({ queue: batch.queue }, config.LOG_LEVEL);
  const ctx: JobContext = {
    db,
    store: createBlobStore(env, config),
    config,
    ffmpeg: env,
    ai: env.AI,
    queue: env.MEDIA_QUEUE,
    log,
    audit: (row, event) => appendAudit(auditLedger(env, config), { ...event, actor: ACTOR, recordingId: row.id, subjectUserId: row.userId }, log),
    settleAudit: () => settleAuditWrites(auditLedger(env, config)),
    emit: (event, data) => emitEvent({ queue: env.WEBHOOK_QUEUE, config }, event, data).then(() => undefined),
  };
  const deadLetter = isDeadLetterQueue(batch.queue);
  // One at a time: each job already runs its renditions side by side, and memory is per isolate.
  for (const message of batch.messages) {
    if (isWebhookMessage(message.body)) {
      // Queued before webhooks had a queue of their own: hand it over, same id, for delivery there.
      await env.WEBHOOK_QUEUE.send(message.body, { contentType: 'json' });
      message.ack();
      continue;
    }
    const job = parseJob(message.body);
    if (!job) {
      log.warn('media queue message ignored: not a job', { messageId: message.id });
      message.ack();
      continue;
    }
    try {
      if (job.type === 'transcribe') {
        if (deadLetter) await giveUpTranscription(ctx, message, job.recordingId);
        else await runTranscription(ctx, message, job.recordingId);
      } else if (deadLetter) await giveUp(ctx, message, job.recordingId);
      else await runJob(ctx, message, job.recordingId);
    } catch (error) {
      // Only bookkeeping (D1, audit) fails here; the job itself is safe to run again.
      log.error('media job bookkeeping failed', { recordingId: job.recordingId, ...describeError(error) });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
}
