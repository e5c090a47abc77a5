/**
 * The Cron Triggers' entry. Daily ("0 3 * * *"): retention of recordings and transcripts, tiering
 * by age, key rotation and rewrap. Hourly ("17 * * * *"): aborting stale multipart uploads,
 * completing asynchronous restores, finishing interrupted deletions, the `auth.denied` events of
 * minutes no request has swept yet, the audit checkpoint. Every job works in bounded
 * batches and resumes where the previous run stopped (`job_cursors`); each run writes one summary
 * audit event (actor `system:cron`) with the counts, including when a job failed.
 *
 * The run functions take `(db, store, config, now)` so that tests (and a manual run) can move the
 * clock; the cron passes the scheduled time.
 */
import { writeAuditCheckpoint } from './audit-ledger';
import { appendAudit, auditLedger, type AuditLedger } from './audit-log';
import { flushDeniedAuth } from './denied-auth';
import { getConfig, type Bindings, type Config } from '../config';
import { createDb, type Database } from '../db/client';
import type { BatchLimits } from '../db/lifecycle';
import { rewrapRecordings, rotateUserKeys } from '../crypto/keys';
import { enqueueProcessing } from '../domain/media-jobs';
import { createLogger, describeError, type Logger } from '../observability/logger';
import type { BlobStore } from '../storage/blob-store';
import { createBlobStore } from '../storage/select';
import { deleteExpiredRecordings, deleteExpiredTranscriptsJob, finishDeletions } from './retention';
import type { JobOptions } from './job';
import { abortStaleUploads } from './stale-uploads';
import { completePendingRestores, tierByAge } from './tiering';
import { emitEvent } from './webhooks';

export const DAILY_CRON = '0 3 * * *';
export const HOURLY_CRON = '17 * * * *';
const CRON_ACTOR = 'system:cron';

export interface RunOptions {
  /** Where the run's audit events go. */
  ledger: AuditLedger;
  limits?: Partial<BatchLimits>;
  /** Wall-clock budget of the whole run; a cron invocation may run 15 minutes. Default 10 minutes. */
  budgetMs?: number;
  log?: Logger;
  /** Where webhook events go (the webhook queue); without it none are sent. */
  queue?: Queue;
  /** Where a completed restore queues the processing it deferred; without it none is queued. */
  mediaQueue?: Queue;
}

/** 100 rows a batch, up to 50 batches per job and run: bounded work, bounded D1 statements per query. */
const DEFAULT_LIMITS: BatchLimits = { batchSize: 100, maxBatches: 50 };

export interface RunSummary {
  run: 'daily' | 'hourly';
  scheduledTime: string;
  jobs: Record<string, unknown>;
  errors: { job: string; error: Record<string, unknown> }[];
}

async function runJobs(
  run: RunSummary['run'],
  db: Database,
  config: Config,
  now: Date,
  options: RunOptions,
  jobs: [string, (job: JobOptions) => Promise<unknown>][],
): Promise<RunSummary> {
  const log = options.log ?? createLogger({ run }, config.LOG_LEVEL);
  const job: JobOptions = {
    limits: { ...DEFAULT_LIMITS, ...options.limits, deadline: Date.now() + (options.budgetMs ?? 10 * 60_000) },
    log,
    audit: async (event) => {
      await appendAudit(options.ledger, { ...event, actor: CRON_ACTOR, actorRole: 'system' }, log);
    },
    emit: async (event, data) => {
      if (options.queue) await emitEvent({ queue: options.queue, config }, event, data, now);
    },
  };
  const summary: RunSummary = { run, scheduledTime: now.toISOString(), jobs: {}, errors: [] };
  const failures: unknown[] = [];
  // One failing job does not keep the others from running; the run still fails in the end.
  for (const [name, fn] of jobs) {
    try {
      summary.jobs[name] = await fn(job);
    } catch (error) {
      failures.push(error);
      summary.errors.push({ job: name, error: describeError(error) });
      log.error('scheduled job failed', { job: name, ...describeError(error) });
    }
  }
  await job.audit({ action: `lifecycle.${run}`, outcome: failures.length > 0 ? 'failure' : 'success', details: { ...summary } });
  log.info('scheduled run finished', { jobs: summary.jobs, errors: summary.errors.length });
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} ${run} job(s) failed: ${summary.errors.map((e) => e.job).join(', ')}`);
  return summary;
}

/** Key rotation (users whose newest key is older than KEY_ROTATION_DAYS) and the rewrap that follows it. */
async function rotateKeys(db: Database, config: Config, now: Date, job: JobOptions): Promise<{ rotated: number; rewrapped: number; remaining: boolean }> {
  let rotated = 0;
  for (let batch = 0; batch < job.limits.maxBatches; batch++) {
    const count = await rotateUserKeys(db, config.MASTER_ENCRYPTION_KEY, config.KEY_ROTATION_DAYS, now, job.limits.batchSize);
    rotated += count;
    if (count < job.limits.batchSize || Date.now() > (job.limits.deadline ?? Infinity)) break;
  }
  let rewrapped = 0;
  let remaining = false;
  for (let batch = 0; batch < job.limits.maxBatches; batch++) {
    const result = await rewrapRecordings(db, config.MASTER_ENCRYPTION_KEY, job.limits.batchSize);
    rewrapped += result.rewrapped;
    remaining = result.remaining;
    if (!remaining || Date.now() > (job.limits.deadline ?? Infinity)) break;
  }
  return { rotated, rewrapped, remaining };
}

/** Retention first (nothing is moved to a colder tier only to be deleted), then tiering, then keys. */
export function runDaily(db: Database, store: BlobStore, config: Config, now: Date, options: RunOptions): Promise<RunSummary> {
  const deps = { db, store };
  return runJobs('daily', db, config, now, options, [
    ['retention', (job) => deleteExpiredRecordings(deps, config, now, job)],
    ['transcripts', (job) => deleteExpiredTranscriptsJob(db, config, now, job)],
    ['tiering', (job) => tierByAge(deps, config, now, job)],
    ['keys', (job) => rotateKeys(db, config, now, job)],
  ]);
}

export function runHourly(db: Database, store: BlobStore, config: Config, now: Date, options: RunOptions): Promise<RunSummary> {
  const { mediaQueue } = options;
  const deps = { db, store, resumeProcessing: mediaQueue ? (recordingId: string) => enqueueProcessing(mediaQueue, recordingId) : undefined };
  return runJobs('hourly', db, config, now, options, [
    ['staleUploads', (job) => abortStaleUploads(deps, config, now, job)],
    [
      'restores',
      async (job) => {
        const result = await completePendingRestores(deps, now, job);
        for (const recordingId of result.completedIds) await job.audit({ action: 'recording.restore_completed', recordingId, outcome: 'success' });
        return { checked: result.checked, completed: result.completed, stillPending: result.stillPending, failed: result.failed };
      },
    ],
    ['deletions', (job) => finishDeletions(deps, now, job)],
    [
      'deniedAuth',
      async (job) => {
        let written = 0;
        for (let batch = 0; batch < job.limits.maxBatches; batch++) {
          const count = await flushDeniedAuth(db, options.ledger, now, job.limits.batchSize);
          written += count;
          if (count < job.limits.batchSize || Date.now() > (job.limits.deadline ?? Infinity)) break;
        }
        return { written };
      },
    ],
    [
      'auditCheckpoint',
      async () => {
        const checkpoint = await writeAuditCheckpoint({ db, store, ledger: options.ledger, signingKey: config.AUDIT_SIGNING_KEY }, now);
        return { written: 1, root: checkpoint.payload.root };
      },
    ],
  ]);
}

/**
 * The Worker's `scheduled` handler: picks the run by the cron expression that fired. Every job is
 * awaited here (nothing is left to `ctx.waitUntil`), so a failed run fails the invocation.
 */
export async function runScheduled(controller: ScheduledController, env: Bindings, ctx: ExecutionContext): Promise<void> {
  const config = getConfig(env);
  const db = createDb(env.DB);
  const store = createBlobStore(env, config);
  const now = new Date(controller.scheduledTime);
  const log = createLogger({ cron: controller.cron }, config.LOG_LEVEL);
  const options = { log, queue: env.WEBHOOK_QUEUE, mediaQueue: env.MEDIA_QUEUE, ledger: auditLedger(env, config) };
  if (controller.cron === DAILY_CRON) await runDaily(db, store, config, now, options);
  else if (controller.cron === HOURLY_CRON) await runHourly(db, store, config, now, options);
  else throw new Error(`No scheduled run for cron "${controller.cron}": wrangler.toml and src/compliance/scheduled.ts disagree`);
}
