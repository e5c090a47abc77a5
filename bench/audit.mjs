/**
 * Issue #16 benchmarks: (1) authenticated `GET /api/v1/recordings/:id` (audited) against the same
 * request on the same build with AUDIT_DISABLED=true, at concurrency 20 and 100, runs alternating,
 * medians of 5; (2) `GET /api/v1/audit/verify` over events seeded into 16 shard chains (valid
 * SHA-256 links) and covered by a checkpoint the service signs.
 *
 * Two `wrangler dev` instances (own ports, inspector ports and state), both seeded with one
 * recording by `wrangler d1 execute --file`; the audited one also with the chains, written into
 * its D1 file directly (`BENCH_AUDIT_EVENTS`, default 1,000,000 as the issue asks). The read
 * comparison runs with both sides' local state on tmpfs and again on the disk (`BENCH_AUDIT_STORAGE`):
 * on the disk each sequencer commit costs a sync that the unaudited side never makes.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { chainHash } from '../src/compliance/audit-format.ts';
import { BENCH_SECRETS, ROOT, median, startWrangler, table } from './harness.mjs';

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 1_000_000);
const SHARDS = 16;
const RUNS = Number(process.env.BENCH_AUDIT_RUNS ?? 5);
const RUN_MS = Number(process.env.BENCH_AUDIT_RUN_MS ?? 2_000);
const CONCURRENCIES = [20, 100];
const BARE_CONFIG = 'bench/bare-worker/wrangler.toml';
const RECORDING = 'rec_benchaudit00000000001';
const ENV = { ...process.env, CI: 'true' };
const q = (v) => (v === null || v === undefined ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);

function d1File(persist, sql) {
  const file = path.join(persist, `seed-${randomUUID()}.sql`);
  writeFileSync(file, sql);
  try {
    execFileSync('npx', ['wrangler', 'd1', 'execute', 'DB', '--local', '--persist-to', persist, '--file', file, '--yes'], { cwd: ROOT, stdio: 'pipe', env: ENV, maxBuffer: 1 << 28 });
  } catch (error) {
    throw new Error(`d1 execute: ${String(error.stdout).slice(-1500)} ${String(error.stderr).slice(-1500)}`);
  } finally {
    rmSync(file);
  }
}

function prepare(persist) {
  execFileSync('npx', ['wrangler', 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist, '--config', 'wrangler.toml'], { cwd: ROOT, stdio: 'ignore', env: ENV });
  const now = new Date().toISOString();
  d1File(
    persist,
    `INSERT INTO recordings (id, call_id, user_id, start_time, format, content_type, size, status, storage_tier, legal_hold, object_key, created_at, updated_at) VALUES (${[RECORDING, 'bench-call', 'bench-user', now, 'wav', 'audio/wav', 1024, 'ready', 'hot', 0, `recordings/${RECORDING}/original.enc`, now, now].map(q).join(', ')});`,
  );
}

/**
 * The bare Worker's state: its own D1 file (migrations applied with its config), then overwritten
 * with a copy of the audited side's (the recording row and, for the verify run, the seeded chains).
 */
function prepareBare(persist, from) {
  execFileSync('npx', ['wrangler', 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist, '--config', BARE_CONFIG], { cwd: ROOT, stdio: 'ignore', env: ENV });
  const target = d1Path(persist);
  const source = d1Path(from);
  // With its write-ahead log: what `wrangler d1 execute` wrote may not be in the main file yet.
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(`${source}${suffix}`)) copyFileSync(`${source}${suffix}`, `${target}${suffix}`);
    else rmSync(`${target}${suffix}`, { force: true });
  }
}

/** The local D1 database file wrangler keeps under `persist` (one database: DB). */
function d1Path(persist) {
  const dir = path.join(persist, 'v3/d1/miniflare-D1DatabaseObject');
  const files = readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  if (files.length !== 1) throw new Error(`expected one D1 database in ${dir}, found ${files.join(', ')}`);
  return path.join(dir, files[0]);
}

/**
 * EVENTS events round-robin over the shards, each shard a valid chain, as the sequencers write
 * them: inserted straight into the local D1 file with node:sqlite (while no wrangler runs), which
 * takes seconds where `wrangler d1 execute` took minutes for a million rows.
 */
async function seedChains(persist) {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(d1Path(persist));
  const insert = db.prepare('INSERT INTO audit_events (id, shard, seq, at, actor, actor_role, action, recording_id, subject_user_id, outcome, details, request_id, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const heads = Array.from({ length: SHARDS }, () => ({ seq: 0, hash: '0'.repeat(64) }));
  const start = Date.now() - 86_400_000;
  const PER_TX = 20_000;
  try {
    for (let from = 0; from < EVENTS; from += PER_TX) {
      const rows = [];
      for (let i = from; i < Math.min(EVENTS, from + PER_TX); i++) {
        const shard = i % SHARDS;
        const head = heads[shard];
        const event = { id: randomUUID(), shard, seq: head.seq + 1, at: new Date(start + i).toISOString(), actor: `bench-user-${i % 1000}`, actorRole: 'user', action: 'recording.read', recordingId: RECORDING, subjectUserId: null, outcome: 'success', details: { i }, requestId: randomUUID() };
        const hash = chainHash(head.hash, event);
        rows.push([event.id, shard, event.seq, event.at, event.actor, event.actorRole, event.action, event.recordingId, null, event.outcome, JSON.stringify(event.details), event.requestId, head.hash, hash]);
        heads[shard] = { seq: event.seq, hash };
      }
      db.exec('BEGIN');
      for (const row of rows) insert.run(...row);
      db.exec('COMMIT');
    }
  } finally {
    db.close();
  }
}

/** Every workerd process under `root` (wrangler runs more than one: the Worker's and its proxy's). */
function workerdPids(root) {
  const all = execFileSync('ps', ['-eo', 'pid,ppid,comm'], { encoding: 'utf8' }).trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  const found = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift();
    for (const [pid, ppid, comm] of all) {
      if (Number(ppid) !== p) continue;
      if (comm.startsWith('workerd')) found.push(Number(pid));
      queue.push(Number(pid));
    }
  }
  if (found.length === 0) throw new Error('no workerd process found');
  return found;
}

/** CPU time (user + system, ms) so far of the processes, from /proc (clock ticks of 10 ms). */
function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / 100;
}

/**
 * One request after the load: a keep-alive connection the server closed while idle fails with
 * "other side closed" before the request is sent, so that is retried once (a second checkpoint
 * is harmless); any other failure says what wrangler printed last.
 */
async function fetchOnce(service, url, init) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (error) {
      const code = error?.cause?.code;
      if (attempt === 0 && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) {
        console.error(`bench/audit: ${init.method ?? 'GET'} ${new URL(url).pathname} met a closed connection (${code}); retrying once`);
        continue;
      }
      throw new Error(`${init.method ?? 'GET'} ${new URL(url).pathname} failed (${code ?? error}); wrangler's last output:\n${service.log().slice(-3000)}`, { cause: error });
    }
  }
}

/** Whether a figure meets its goal, said in the table itself. */
const goal = (met) => (met ? '(goal met)' : '(goal NOT met)');

/** Requests for RUN_MS at `concurrency`: throughput and latency percentiles. */
async function load(url, headers, concurrency) {
  const latencies = [];
  let failures = 0;
  const end = performance.now() + RUN_MS;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        const res = await fetch(url, { headers });
        await res.arrayBuffer();
        latencies.push(performance.now() - s);
        if (res.status !== 200) failures++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
  return { rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), failures, count: latencies.length };
}

/** Where a side keeps its local state: tmpfs (/dev/shm, no disk sync per commit) or the disk (tmpdir). */
const STORAGE_DIRS = { tmpfs: '/dev/shm', disk: tmpdir() };
const STORAGES = (process.env.BENCH_AUDIT_STORAGE ?? 'tmpfs,disk').split(',').map((s) => s.trim()).filter(Boolean);

export async function run() {
  for (const storage of STORAGES) if (!(storage in STORAGE_DIRS)) throw new Error(`BENCH_AUDIT_STORAGE: ${storage} is neither tmpfs nor disk`);
  const out = [];
  const rows = [];
  let verifyRow = null;
  let seedSeconds = 0;
  for (const [index, storage] of STORAGES.entries()) {
    // The verify run (with its 1,000,000 seeded events) once, on the first storage listed.
    const measured = await measureStorage(storage, index === 0);
    rows.push(...measured.rows);
    if (measured.verify) ({ verifyRow, seedSeconds } = measured.verify);
  }
  out.push(
    table(
      `GET /api/v1/recordings/:id, audited vs AUDIT_DISABLED=true (same build), ${RUN_MS / 1000} s runs, median of ${RUNS} alternating`,
      ['state on', 'concurrency', 'audited (goal ≥ 1,000 req/s)', 'audited p50 / p99', 'unaudited', 'unaudited p50 / p99', 'audited / unaudited (goal ≥ 0.8×)', 'workerd CPU per request, audited / unaudited (unaudited ÷ audited)', 'bare Worker, D1 read of the row (CPU/request)', 'bare Worker, hello (CPU/request)', 'non-200'],
      rows,
    ),
  );
  if (verifyRow) {
    out.push(
      table(
        `GET /api/v1/audit/verify over ${SHARDS} shards (${EVENTS.toLocaleString('en')} seeded events plus the benchmark's own; state on ${STORAGES[0]}), median of ${RUNS} alternating with the bare floor`,
        ['events checked', 'verify time (median)', 'events verified / s (goal ≥ 100,000)', 'bare floor: read + one SHA-256 per event / s', 'verify ÷ floor', 'ok', 'checkpoints', 'POST /audit/checkpoints'],
        [verifyRow],
      ),
    );
  }
  out.push(
    `D1 statements per audited request: 0 on the request path. The request waits for the Durable Object RPC that stores its event in the shard sequencer's SQLite (so nothing is lost if the isolate dies after answering), one RPC shared by the isolate's requests of the moment (one SQLite statement per RPC); the sequencer then writes a batch of b events as ⌈b/7⌉ multi-row INSERTs in one D1 batch (one round trip), so at most 1 statement per event and 1/7 under load. "state on" is where both sides keep their local D1 and Durable Object state: on the disk, each sequencer commit costs a disk sync that the unaudited side never makes (its reads write nothing); tmpfs shows the cost without it. The CPU column is the CPU time (user + system, from /proc) of the service's workerd processes over a run divided by its requests, the sequencers' trailing chaining and D1 writes included: on a shared machine it is steadier than req/s. Seeding (migrations, then ${EVENTS.toLocaleString('en')} chained events written straight into the local D1 file with node:sqlite) took ${seedSeconds.toFixed(0)} s and is not part of any figure. Both services and the load generator share the machine's cores, so these are local, CPU-bound numbers. The bare Worker (bench/bare-worker, same runtime, its own copy of the D1 state, alternated with both sides) bounds what this machine can show: \"hello\" is the most requests per second wrangler dev serves here at all, \"D1 read\" the same row read and answered without auth, audit or the service around it. Its floor for verify reads every event with the verifier's own query and hashes each once (node:crypto, one call per event as the chain needs), with no canonical form, links or checkpoints: the least any verification of the log must do in this runtime.\n`,
  );
  return out.join('\n');
}

/** Both sides with their state on `storage`, and the bare Worker beside them: the read rows, and the verify row when `withVerify`. */
async function measureStorage(storage, withVerify) {
  const base = STORAGE_DIRS[storage];
  const audited = mkdtempSync(path.join(base, 'bench-audit-on-'));
  const unaudited = mkdtempSync(path.join(base, 'bench-audit-off-'));
  const barePersist = mkdtempSync(path.join(base, 'bench-audit-bare-'));
  const rows = [];
  let verify = null;
  const t0 = performance.now();
  prepare(audited);
  prepare(unaudited);
  if (withVerify) await seedChains(audited);
  prepareBare(barePersist, audited);
  const seedSeconds = (performance.now() - t0) / 1000;
  const vars = { ...BENCH_SECRETS, ENVIRONMENT: 'test', RATE_LIMIT_DISABLED: 'true', LOG_LEVEL: 'error', FFMPEG_URL: 'http://127.0.0.1:9' };
  const on = await startWrangler({ persist: audited, vars });
  const off = await startWrangler({ persist: unaudited, vars: { ...vars, AUDIT_DISABLED: 'true' } });
  const bare = await startWrangler({ config: BARE_CONFIG, persist: barePersist });
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bench-user').setExpirationTime('2h').sign(new TextEncoder().encode(BENCH_SECRETS.JWT_SECRET));
  const auth = { authorization: `Bearer ${token}` };
  const admin = { 'x-api-key': BENCH_SECRETS.API_KEYS };
  // Four sides of one read: the service audited and not, the bare Worker's D1 read of the same row, and its hello.
  const barePids = workerdPids(bare.pid);
  const sides = {
    on: { url: `${on.url}/api/v1/recordings/${RECORDING}`, headers: auth, pids: workerdPids(on.pid) },
    off: { url: `${off.url}/api/v1/recordings/${RECORDING}`, headers: auth, pids: workerdPids(off.pid) },
    bare: { url: `${bare.url}/recordings/${RECORDING}`, headers: {}, pids: barePids },
    hello: { url: `${bare.url}/hello`, headers: {}, pids: barePids },
  };
  try {
    for (const side of Object.values(sides)) {
      const res = await fetch(side.url, { headers: side.headers });
      if (res.status !== 200) throw new Error(`warm-up ${side.url} ${res.status} ${await res.text()}`);
      await load(side.url, side.headers, 20);
    }
    const names = Object.keys(sides);
    for (const concurrency of CONCURRENCIES) {
      const results = Object.fromEntries(names.map((n) => [n, []]));
      for (let i = 0; i < RUNS; i++) {
        // Alternating, the order rotated every run, so that drift on a shared machine hits every side.
        const order = names.map((_, k) => names[(k + i) % names.length]);
        for (const which of order) {
          // The runtime's own CPU per request as well: on a shared machine it is steadier than req/s. The
          // sequencers' chaining and D1 writes that trail the run are counted (read 500 ms after it).
          const side = sides[which];
          const before = cpuMs(side.pids);
          const result = await load(side.url, side.headers, concurrency);
          await new Promise((r) => setTimeout(r, 500));
          results[which].push({ ...result, cpu: (cpuMs(side.pids) - before) / result.count });
        }
      }
      const m = (list, key) => median(list.map((r) => r[key]));
      const ratio = m(results.on, 'rps') / m(results.off, 'rps');
      rows.push([
        storage,
        String(concurrency),
        `${m(results.on, 'rps').toFixed(0)} req/s ${goal(m(results.on, 'rps') >= 1000)}`,
        `${m(results.on, 'p50').toFixed(1)} / ${m(results.on, 'p99').toFixed(1)} ms`,
        `${m(results.off, 'rps').toFixed(0)} req/s`,
        `${m(results.off, 'p50').toFixed(1)} / ${m(results.off, 'p99').toFixed(1)} ms`,
        `${ratio.toFixed(2)}× ${goal(ratio >= 0.8)}`,
        `${m(results.on, 'cpu').toFixed(2)} / ${m(results.off, 'cpu').toFixed(2)} ms (${(m(results.off, 'cpu') / m(results.on, 'cpu')).toFixed(2)}×)`,
        `${m(results.bare, 'rps').toFixed(0)} req/s (${m(results.bare, 'cpu').toFixed(2)} ms)`,
        `${m(results.hello, 'rps').toFixed(0)} req/s (${m(results.hello, 'cpu').toFixed(2)} ms)`,
        String(names.reduce((n, name) => n + results[name].reduce((k, r) => k + r.failures, 0), 0)),
      ]);
    }

    if (withVerify) {
      // Every audited request above is in D1 once the sequencers have written it; the checkpoint waits for that.
      let t = performance.now();
      const checkpoint = await fetchOnce(on, `${on.url}/api/v1/audit/checkpoints`, { method: 'POST', headers: admin });
      if (checkpoint.status !== 201) throw new Error(`checkpoint ${checkpoint.status} ${await checkpoint.text()}`);
      const checkpointMs = performance.now() - t;
      // Verify and the bare floor (read every event with the verifier's query, hash each once), alternating.
      const verifies = [];
      const floors = [];
      let result = null;
      for (let i = 0; i < RUNS; i++) {
        for (const which of i % 2 === 0 ? ['verify', 'floor'] : ['floor', 'verify']) {
          t = performance.now();
          if (which === 'verify') {
            // The verify before this one was audited too: a checkpoint (not timed) covers it, so that every answer can be ok.
            if (i > 0) {
              const again = await fetchOnce(on, `${on.url}/api/v1/audit/checkpoints`, { method: 'POST', headers: admin });
              if (again.status !== 201) throw new Error(`checkpoint ${again.status} ${await again.text()}`);
            }
            t = performance.now();
            const res = await fetchOnce(on, `${on.url}/api/v1/audit/verify`, { headers: admin });
            result = await res.json();
            verifies.push(result.checked / ((performance.now() - t) / 1000));
          } else {
            const res = await fetchOnce(bare, `${bare.url}/audit-floor`, {});
            const { events } = await res.json();
            floors.push(events / ((performance.now() - t) / 1000));
          }
        }
      }
      const perSecond = median(verifies);
      const floor = median(floors);
      verify = {
        seedSeconds,
        verifyRow: [
          String(result.checked),
          `${(result.checked / perSecond).toFixed(2)} s`,
          `${perSecond.toFixed(0)} ${goal(perSecond >= 100_000)}`,
          `${floor.toFixed(0)}`,
          `${(perSecond / floor).toFixed(2)}×`,
          `${result.ok}${result.ok ? '' : ` (${result.reason} at ${result.firstBadId})`}`,
          String(result.checkpoints),
          `${checkpointMs.toFixed(0)} ms`,
        ],
      };
    }
  } finally {
    await on.stop();
    await off.stop();
    await bare.stop();
    for (const dir of [audited, unaudited, barePersist]) rmSync(dir, { recursive: true, force: true });
  }
  return { rows, verify };
}

const USAGE = `node bench/audit.mjs: audited vs unaudited reads, then verify over seeded events. Settings (environment):
  BENCH_AUDIT_EVENTS   events seeded for the verify run (default 1000000; e.g. 200000 while iterating)
  BENCH_AUDIT_RUNS     alternating runs per concurrency, medians taken (default 5)
  BENCH_AUDIT_RUN_MS   length of one run in ms (default 2000)
  BENCH_AUDIT_STORAGE  where both sides keep their local state: tmpfs,disk (default both; verify runs on the first)`;

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--help')) console.log(USAGE);
  else console.log(await run());
}
