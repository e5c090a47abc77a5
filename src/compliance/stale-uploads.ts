/**
 * Multipart uploads left open by a crash (an upload request that died, a live call whose object
 * was never finished) hold storage that no listing shows cheaply, so every upload is written to
 * `open_uploads` before its first part; the hourly cron aborts the ones older than any upload can
 * legitimately be, and forgets them.
 */
import type { Config } from '../config';
import type { Database } from '../db/client';
import { forgetUpload, scanResumably, staleUploads } from '../db/lifecycle';
import { StorageUnavailable, type BlobStore } from '../storage/blob-store';
import type { JobOptions } from './job';

const HOUR_MS = 3_600_000;
/** R2 and Azure discard unfinished uploads after 7 days; past that, a failed abort has nothing left to abort. */
const PROVIDER_DISCARDS_AFTER_MS = 8 * 24 * HOUR_MS;

/**
 * An upload is stale after a day, or after the longest a live call may last plus an hour when that
 * is longer: a live call's upload stays open for the whole call.
 */
function staleUploadAgeMs(config: Pick<Config, 'LIVE_MAX_DURATION_HOURS'>): number {
  return Math.max(24, config.LIVE_MAX_DURATION_HOURS + 1) * HOUR_MS;
}

export interface StaleUploadSummary {
  aborted: number;
  /** Rows whose abort kept failing after the provider must have discarded the upload anyway. */
  forgotten: number;
  failed: number;
}

/**
 * Hourly. Aborting is idempotent and harmless to an upload that was in fact completed (its object
 * stays): providers refuse or ignore the abort of a finished upload.
 */
export async function abortStaleUploads(deps: { db: Database; store: BlobStore }, config: Config, now: Date, options: JobOptions): Promise<StaleUploadSummary> {
  const startedBefore = new Date(now.getTime() - staleUploadAgeMs(config)).toISOString();
  const summary: StaleUploadSummary = { aborted: 0, forgotten: 0, failed: 0 };
  await scanResumably(
    deps.db,
    'stale-uploads',
    options.limits,
    now,
    (after, limit) => staleUploads(deps.db, startedBefore, after, limit),
    (row) => row.uploadId,
    async (rows) => {
      for (const row of rows) {
        try {
          await deps.store.resumeMultipart(row.objectKey, row.uploadId).abort();
          summary.aborted++;
        } catch (error) {
          if (error instanceof StorageUnavailable) throw error;
          if (now.getTime() - Date.parse(row.startedAt) < PROVIDER_DISCARDS_AFTER_MS) {
            summary.failed++;
            options.log.error('aborting a stale upload failed; retried next hour', { uploadId: row.uploadId, objectKey: row.objectKey, error: String(error) });
            continue;
          }
          summary.forgotten++;
          options.log.warn('forgetting a stale upload the provider has discarded by now', { uploadId: row.uploadId, objectKey: row.objectKey, error: String(error) });
        }
        await forgetUpload(deps.db, row.uploadId);
      }
    },
  );
  return summary;
}
