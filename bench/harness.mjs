/**
 * Shared pieces of the benchmarks: starting `wrangler dev` on free ports with its own state,
 * finding the workerd process to read its memory, medians and tables.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');

/** Secrets the benchmarked service runs with (bench only; never a deployment's). */
export const BENCH_SECRETS = {
  MASTER_ENCRYPTION_KEY: 'YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE=',
  JWT_SECRET: 'bench-only-jwt-secret-0123456789abcdef',
  API_KEYS: 'bench-api-key-0123456789abcdef',
  WEBHOOK_SECRET: 'bench-only-webhook-secret-0123',
  FFMPEG_SHARED_SECRET: 'bench-only-ffmpeg-secret-0123',
  AUDIT_SIGNING_KEY: 'YmVuY2gtb25seS1hdWRpdC1zaWduaW5nLXNlZWQtMzI=',
};

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * Start `wrangler dev` for `config` with vars (cron testable through /__scheduled); resolves once
 * it answers HTTP. `persist` picks the state directory; `migrate` applies D1 migrations there first.
 */
export async function startWrangler({ config = 'wrangler.toml', vars = {}, migrate = false, cwd = ROOT, persist = mkdtempSync(path.join(tmpdir(), 'bench-wrangler-')) }) {
  const port = await freePort();
  const inspector = await freePort();
  const npx = 'npx';
  if (migrate) {
    execFileSync(npx, ['wrangler', 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist, '--config', config], { cwd, stdio: 'ignore', env: { ...process.env, CI: 'true' } });
  }
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  const child = spawn(npx, ['wrangler', 'dev', '--local', '--config', config, '--port', String(port), '--ip', '127.0.0.1', '--inspector-port', String(inspector), '--persist-to', persist, '--enable-containers=false', '--test-scheduled', ...varArgs], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: 'true' },
    detached: true,
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 240; i++) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      break;
    } catch {
      if (child.exitCode !== null) throw new Error(`wrangler dev exited: ${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return {
    url,
    pid: child.pid,
    log: () => log,
    /** The workerd process serving this wrangler (for RSS). */
    workerdPid() {
      const all = execFileSync('ps', ['-eo', 'pid,ppid,comm'], { encoding: 'utf8' }).trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
      const children = (p) => all.filter(([, ppid]) => Number(ppid) === p).map(([pid]) => Number(pid));
      const queue = [child.pid];
      while (queue.length) {
        const p = queue.shift();
        const row = all.find(([pid]) => Number(pid) === p);
        if (row && row[2].startsWith('workerd')) return p;
        queue.push(...children(p));
      }
      throw new Error('workerd process not found');
    },
    async stop() {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      await new Promise((r) => setTimeout(r, 500));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    },
  };
}

/** Resident set size of a process in bytes. */
export function rss(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Run `fn` while sampling the RSS of `pid`; returns fn's result and the peak growth in bytes. */
export async function withPeakRss(pid, fn) {
  const base = rss(pid);
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, rss(pid))), 20);
  try {
    const result = await fn();
    peak = Math.max(peak, rss(pid));
    return { result, growth: peak - base, peak };
  } finally {
    clearInterval(timer);
  }
}

export function table(title, header, rows) {
  return [`### ${title}`, '', `| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`), ''].join('\n');
}
