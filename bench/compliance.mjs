/**
 * Issue #7 benchmarks: (1) the daily retention run over 100,000 recording rows (1% past retention):
 * wall time of the cron, rows scanned per second, and D1 round trips per run (estimated from the
 * code's batch structure, the counts come from the run's `lifecycle.daily` audit event). The audit
 * log's own benchmark is bench/audit.mjs.
 *
 * Rows are seeded straight into the local D1 of the wrangler under test with `wrangler d1 execute
 * --file` into the persist dir that harness.startWrangler then serves (its `/__scheduled` fires the cron).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, table, BENCH_SECRETS, startWrangler } from './harness.mjs';

const SECRETS = BENCH_SECRETS;
const RECORDINGS = Number(process.env.BENCH_RECORDINGS ?? 100_000);
const DUE_FRACTION = 0.01;
const DAY_MS = 86_400_000;
const ENV = { ...process.env, CI: 'true' };

const q = (v) => (v === null || v === undefined ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);

function d1File(persist, file) {
  try {
    execFileSync('npx', ['wrangler', 'd1', 'execute', 'DB', '--local', '--persist-to', persist, '--file', file, '--yes'], { cwd: ROOT, stdio: 'pipe', env: ENV, maxBuffer: 1 << 28 });
  } catch (error) {
    throw new Error(`d1 execute ${file}: ${String(error.stdout).slice(-1500)} ${String(error.stderr).slice(-1500)}`);
  }
}

/** 100k recordings: 99% created in the last 5 days (before tiering's 7), 1% 400 days old, objects absent. */
function recordingsSql(now) {
  const lines = [];
  const cols = '(id, call_id, user_id, caller_phone, receiver_phone, start_time, format, content_type, size, status, storage_tier, legal_hold, object_key, created_at, updated_at)';
  const dueEvery = Math.round(1 / DUE_FRACTION);
  let values = [];
  for (let i = 0; i < RECORDINGS; i++) {
    const id = randomUUID();
    const due = i % dueEvery === 0;
    const created = new Date(due ? now - 400 * DAY_MS - i * 1000 : now - Math.floor((i / RECORDINGS) * 5 * DAY_MS) - 60_000).toISOString();
    values.push(`(${[id, `call-${i}`, `bench-user-${i % 1000}`, `+1415555${String(i % 10000).padStart(4, '0')}`, '+14155550101', created, 'wav', 'audio/wav', 1024, 'ready', 'hot', 0, `recordings/${id}/original.enc`, created, created].map(q).join(', ')})`);
    if (values.length === 100) {
      lines.push(`INSERT INTO recordings ${cols} VALUES ${values.join(',\n')};`);
      values = [];
    }
  }
  if (values.length) lines.push(`INSERT INTO recordings ${cols} VALUES ${values.join(',\n')};`);
  return { sql: lines.join('\n'), due: Math.ceil(RECORDINGS / dueEvery) };
}

export async function run() {
  const persist = mkdtempSync(path.join(tmpdir(), 'bench-compliance-'));
  const out = [];
  const now = Date.now();
  const t0 = performance.now();
  execFileSync('npx', ['wrangler', 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist, '--config', 'wrangler.toml'], { cwd: ROOT, stdio: 'ignore', env: ENV });
  const { sql: recSql, due } = recordingsSql(now);
  const recFile = path.join(persist, 'seed-recordings.sql');
  writeFileSync(recFile, recSql);
  d1File(persist, recFile);
  rmSync(recFile);
  const seedSeconds = (performance.now() - t0) / 1000;

  const service = await startWrangler({ persist, vars: { ...SECRETS, ENVIRONMENT: 'test', RATE_LIMIT_DISABLED: 'true', LOG_LEVEL: 'error', FFMPEG_URL: 'http://127.0.0.1:9' } });
  const admin = { 'x-api-key': SECRETS.API_KEYS };
  try {
    // (1) Retention: one daily cron over the seeded table.
    let t = performance.now();
    const cron = await fetch(`${service.url}/__scheduled?cron=0+3+*+*+*`);
    await cron.text();
    const cronMs = performance.now() - t;
    if (!cron.ok) throw new Error(`__scheduled ${cron.status}: ${service.log().slice(-2000)}`);
    // The run's summary event reaches D1 a moment after the cron (its sequencer writes it).
    let summaryEvent;
    for (let i = 0; i < 50 && !summaryEvent; i++) {
      const summaryRes = await fetch(`${service.url}/api/v1/audit?action=lifecycle.daily&limit=1`, { headers: admin });
      if (!summaryRes.ok) throw new Error(`audit list ${summaryRes.status} ${await summaryRes.text()}`);
      [summaryEvent] = (await summaryRes.json()).items;
      if (!summaryEvent) await new Promise((r) => setTimeout(r, 100));
    }
    const jobs = summaryEvent?.details?.jobs ?? {};
    const r = jobs.retention ?? {};
    const scanned = r.scanned ?? 0;
    const deleted = r.deleted ?? 0;
    const batchSize = 100;
    // Round trips of the retention job, from the code (src/compliance/retention.ts, src/db/lifecycle.ts):
    // 1 cursor read; per page fetched: 1 select + 1 cursor save, + 1 anonymize batch when non-empty;
    // per deleted row: 2 (destroyUnheldOriginals) + 1 (listRenditions) + 1 (finishTombstone batch) = 4;
    // its audit event is a hand-over to a sequencer, which writes events in batches.
    const fullPages = Math.floor(scanned / batchSize);
    const pagesFetched = r.passComplete ? fullPages + 1 : fullPages;
    const nonEmptyPages = Math.ceil(scanned / batchSize);
    const retentionQueries = 1 + 2 * pagesFetched + nonEmptyPages + 4 * deleted;
    out.push(
      table(
        `Daily cron (retention first, then transcripts, tiering, keys) over ${RECORDINGS.toLocaleString('en')} recordings, ${due.toLocaleString('en')} past retention`,
        ['cron wall time', 'retention scanned', 'deleted', 'pass complete', 'rows scanned / s (whole cron)', 'retention pages', 'retention D1 round trips (estimated from code)', 'per deleted row', 'other jobs'],
        [[
          `${(cronMs / 1000).toFixed(2)} s`,
          String(scanned),
          String(deleted),
          String(r.passComplete),
          `${(scanned / (cronMs / 1000)).toFixed(0)}`,
          String(pagesFetched),
          `≈ ${retentionQueries.toLocaleString('en')}`,
          `≈ ${(retentionQueries / Math.max(1, deleted)).toFixed(1)}`,
          `\`${JSON.stringify({ transcripts: jobs.transcripts, tiering: jobs.tiering, keys: jobs.keys, errors: summaryEvent?.details?.errors?.length ?? 0 })}\``,
        ]],
      ),
    );

    out.push(`Seeding (migrations + ${RECORDINGS.toLocaleString('en')} recordings via \`wrangler d1 execute --local --file\`) took ${seedSeconds.toFixed(0)} s and is not part of any figure. Local \`wrangler dev\` (miniflare D1 on SQLite, local R2): D1 round trips cost far less than on the edge.\n`);
  } finally {
    await service.stop();
    rmSync(persist, { recursive: true, force: true });
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await run());
