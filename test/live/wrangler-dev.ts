/**
 * Runs the whole service under `wrangler dev` on 127.0.0.1 and free ports, with local D1 (its
 * migrations applied first), R2, Queues and Durable Objects persisted in a directory of the
 * caller's, so that a restart finds everything again. The Cron Triggers can be fired over HTTP
 * (`/cdn-cgi/handler/scheduled?cron=…`), as `npm start` allows. Used by the test/node suites (the
 * browser tests through test/e2e/service.ts) and bench/live-throughput.mjs. Written with erasable TypeScript only, so that Node imports it
 * directly (type stripping).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { TEST_SECRETS } from '../support/secrets.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WRANGLER = path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
/** wrangler needs Node ≥ 22; the project's own Node binary is used whatever Node runs this file. */
export const NODE = existsSync(path.join(ROOT, 'node_modules/.bin/node')) ? path.join(ROOT, 'node_modules/.bin/node') : process.execPath;

export interface WranglerDevOptions {
  /** Persistence directory; a fresh temporary one (removed by `stop`) unless given. */
  persistTo?: string;
  /** More `--var NAME:value` settings. */
  vars?: Record<string, string>;
  /** Echo wrangler's output (off by default: only a failed start shows it). */
  verbose?: boolean;
}

export interface WranglerDev {
  /** `http://127.0.0.1:<port>` */
  url: string;
  persistTo: string;
  /** Kill the runtime abruptly (SIGKILL, like a crash) and start it again on the same port and storage. */
  restart(): Promise<void>;
  /** Stop it and remove a temporary persistence directory. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A JWT of the test secret for `sub`, as the Worker under `wrangler dev` accepts it. */
export function tokenFor(sub: string, role?: 'user' | 'admin' | 'auditor'): Promise<string> {
  return new SignJWT(role ? { role } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(TEST_SECRETS.JWT_SECRET));
}

/** Run wrangler with `args` to completion; its output goes into the error when it fails. */
function wrangler(args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(NODE, [WRANGLER, ...args], { cwd: ROOT, env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${what} failed (${code}):\n${output}`))));
  });
}

/**
 * The Worker bundled once, up front. `wrangler dev` watches the sources and reloads the Worker on
 * every change, which would drop sockets mid-test while others edit the tree; serving a fixed
 * bundle with --no-bundle keeps the runtime still.
 */
async function buildWorker(outdir: string): Promise<string> {
  await wrangler(['deploy', '--dry-run', '--outdir', outdir, '--containers-rollout=none'], 'building the Worker');
  return path.join(outdir, 'index.js');
}

async function waitUntilReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`wrangler dev exited before it was ready:\n${output()}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) });
      // 503 is fine: only the FFmpeg check fails, nothing listens at FFMPEG_URL.
      if (res.status === 200 || res.status === 503) {
        const body = (await res.json()) as { checks?: Record<string, { status: string }> };
        if (body.checks?.database?.status === 'ok' && body.checks?.storage?.status === 'ok') return;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`wrangler dev did not answer within 90 s:\n${output()}`);
}

/** The process group of `child` (wrangler and the workerd it runs), ended together. */
async function killGroup(child: ChildProcess, signal: NodeJS.Signals, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      // Already gone.
    }
  };
  kill(signal);
  const timer = setTimeout(() => kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // workerd may outlive wrangler by a moment.
  kill('SIGKILL');
}

export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  const temporary = options.persistTo === undefined;
  const persistTo = options.persistTo ?? mkdtempSync(path.join(tmpdir(), 'live-dev-'));
  const buildDir = mkdtempSync(path.join(tmpdir(), 'live-build-'));
  const removeDirectories = () => {
    rmSync(buildDir, { recursive: true, force: true });
    if (temporary) rmSync(persistTo, { recursive: true, force: true });
  };
  let script: string;
  try {
    [script] = await Promise.all([
      buildWorker(buildDir),
      wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo], 'applying D1 migrations'),
    ]);
  } catch (error) {
    removeDirectories();
    throw error;
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = { ...TEST_SECRETS, ENVIRONMENT: 'test', FFMPEG_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'warn', ...options.vars };
  let child: ChildProcess | undefined;

  const launch = async () => {
    const inspectorPort = await freePort();
    const args = [WRANGLER, 'dev', script, '--local', '--config', 'wrangler.toml', '--no-bundle', '--port', String(port), '--ip', '127.0.0.1', '--inspector-port', String(inspectorPort), '--enable-containers=false', '--persist-to', persistTo, '--test-scheduled'];
    // The project's own [assets] section when it has one (its routing is what is tested); dist/web otherwise.
    if (!/^\[assets\]/m.test(readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8'))) args.push('--assets', path.join(ROOT, 'dist/web'));
    for (const [name, value] of Object.entries(vars)) args.push('--var', `${name}:${value}`);
    let output = '';
    const started = spawn(NODE, args, {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', FORCE_COLOR: '0', NO_COLOR: '1' },
    });
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
      if (options.verbose) process.stderr.write(`[wrangler] ${chunk}`);
    };
    started.stdout?.on('data', collect);
    started.stderr?.on('data', collect);
    child = started;
    try {
      await waitUntilReady(url, started, () => output);
    } catch (error) {
      await killGroup(started, 'SIGKILL');
      throw error;
    }
  };

  try {
    await launch();
  } catch (error) {
    removeDirectories();
    throw error;
  }
  return {
    url,
    persistTo,
    async restart() {
      if (child) await killGroup(child, 'SIGKILL');
      await launch();
    },
    async stop() {
      if (child) await killGroup(child, 'SIGTERM');
      removeDirectories();
    },
  };
}
