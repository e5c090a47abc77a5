/**
 * The dependency checks behind `GET /health`, at two depths. Public (no credentials): a D1
 * `select 1`, a HEAD of one storage key and the queue binding's presence; FFmpeg is not woken.
 * Deep (admin or API key): a D1 query, a write-read-delete round trip through the storage
 * provider, and a probe of the FFmpeg worker. Each depth's result is cached for 10 s per isolate
 * (concurrent callers share one run), so a flood of `/health` costs at most one storage call per
 * isolate every 10 s. 503 when storage or the database is down (no recording can be stored or read).
 */
import type { Bindings, Config } from '../config';
import { pingDatabase, type Database } from '../db/client';
import { AppError } from '../errors';
import { checkFfmpeg } from '../media/ffmpeg-client';
import { createBlobStore } from '../storage/select';

export const HEALTH_CACHE_MS = 10_000;
/** A key nothing writes: its HEAD answers "absent" cheaply when the provider is up. */
const PUBLIC_PROBE_KEY = '_health/public-probe';

export type HealthDepth = 'public' | 'deep';
export interface CheckResult {
  status: 'ok' | 'down' | 'disabled';
  latencyMs?: number;
  message?: string;
}
export interface HealthReport {
  status: 'ok' | 'degraded';
  /** When these checks ran (a cached report keeps its time). */
  checkedAt: string;
  depth: HealthDepth;
  checks: { storage: CheckResult; database: CheckResult; queue: CheckResult; ffmpeg: CheckResult };
  /** True when storage or the database is down: answered with 503. */
  unavailable: boolean;
}

async function timed(fn: () => Promise<unknown>): Promise<CheckResult> {
  const started = Date.now();
  try {
    await fn();
    return { status: 'ok', latencyMs: Date.now() - started };
  } catch (error) {
    return { status: 'down', latencyMs: Date.now() - started, message: error instanceof AppError ? error.message : 'check failed' };
  }
}

async function runChecks(env: Bindings, config: Config, db: Database, depth: HealthDepth): Promise<HealthReport> {
  const store = createBlobStore(env, config);
  const [database, storage, ffmpeg] = await Promise.all([
    timed(() => pingDatabase(db)),
    timed(() => (depth === 'deep' ? store.selfTest() : store.head(PUBLIC_PROBE_KEY))),
    depth === 'deep' ? timed(() => checkFfmpeg(env, config)) : Promise.resolve<CheckResult>({ status: 'disabled', message: 'Checked only for an API key or an admin token' }),
  ]);
  const queue: CheckResult = typeof env.MEDIA_QUEUE?.send === 'function' ? { status: 'ok' } : { status: 'down', message: 'queue binding missing' };
  const unavailable = storage.status === 'down' || database.status === 'down';
  const degraded = unavailable || queue.status === 'down' || ffmpeg.status === 'down';
  return { status: degraded ? 'degraded' : 'ok', checkedAt: new Date().toISOString(), depth, checks: { storage, database, queue, ffmpeg }, unavailable };
}

const cache = new WeakMap<object, Map<HealthDepth, { expires: number; report: Promise<HealthReport> }>>();

/** The report for `depth`, from this isolate's cache when it is younger than 10 s. */
export function checkHealth(env: Bindings, config: Config, db: Database, depth: HealthDepth): Promise<HealthReport> {
  let byDepth = cache.get(env);
  if (!byDepth) cache.set(env, (byDepth = new Map()));
  const cached = byDepth.get(depth);
  if (cached && cached.expires > Date.now()) return cached.report;
  const report = runChecks(env, config, db, depth);
  byDepth.set(depth, { expires: Date.now() + HEALTH_CACHE_MS, report });
  report.catch(() => byDepth.delete(depth));
  return report;
}
