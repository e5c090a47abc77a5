/**
 * The whole service for browser tests: the web app built with Vite into dist/web, the Worker
 * bundled once (so that others editing src/ cannot reload it mid-test), `wrangler dev` serving
 * both (static assets first, the Worker for everything else) with local D1, R2, Queues and Durable
 * Objects, and the FFmpeg server the media queue calls. Everything binds to 127.0.0.1 on free ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFfmpegServer, type FfmpegServer } from '../support/ffmpeg-server.ts';
import { TEST_SECRETS } from '../support/secrets.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WEB_DIST = path.join(ROOT, 'dist/web');
const WRANGLER = path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const VITE = path.join(ROOT, 'node_modules/vite/bin/vite.js');
/** wrangler and Vite need Node ≥ 22; the project's own Node binary is used whatever Node runs this file. */
const NODE = existsSync(path.join(ROOT, 'node_modules/.bin/node')) ? path.join(ROOT, 'node_modules/.bin/node') : process.execPath;
const QUIET_ENV = { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', FORCE_COLOR: '0', NO_COLOR: '1' };

export interface Service {
  /** `http://127.0.0.1:<port>`: the page and the API. */
  url: string;
  ffmpeg: FfmpegServer;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function run(args: string[], what: string): void {
  const result = spawnSync(NODE, args, { cwd: ROOT, env: QUIET_ENV, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${what} failed:\n${result.stdout}\n${result.stderr}`);
}

/** `vite build`: src/web → dist/web (what `npm run build:web` does). */
export function buildWeb(): void {
  run([VITE, 'build', '--logLevel', 'warn'], 'vite build');
}

async function waitUntilReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`wrangler dev exited before it was ready:\n${output()}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) });
      const body = (await res.json()) as { checks?: Record<string, { status: string }> };
      if (body.checks?.database?.status === 'ok' && body.checks?.storage?.status === 'ok') return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`wrangler dev did not answer within 90 s:\n${output()}`);
}

async function killGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // Already gone.
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
  kill('SIGKILL');
}

/** `vars` adds Worker settings (e.g. WEBHOOK_URL) to the tests' own. */
export async function startService(options: { verbose?: boolean; vars?: Record<string, string> } = {}): Promise<Service> {
  buildWeb();
  const buildDir = mkdtempSync(path.join(tmpdir(), 'web-e2e-build-'));
  const persistTo = mkdtempSync(path.join(tmpdir(), 'web-e2e-state-'));
  let ffmpeg: FfmpegServer | undefined;
  let child: ChildProcess | undefined;
  const cleanUp = async () => {
    if (child) await killGroup(child);
    await ffmpeg?.stop();
    rmSync(buildDir, { recursive: true, force: true });
    rmSync(persistTo, { recursive: true, force: true });
  };
  try {
    run([WRANGLER, 'deploy', '--dry-run', '--outdir', buildDir, '--containers-rollout=none'], 'bundling the Worker');
    run([WRANGLER, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo], 'wrangler d1 migrations apply');
    ffmpeg = await startFfmpegServer({ engine: 'native' });
    const port = await freePort();
    const inspectorPort = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const vars: Record<string, string> = { ...TEST_SECRETS, ENVIRONMENT: 'test', LOG_LEVEL: 'warn', FFMPEG_URL: ffmpeg.url, ...options.vars };
    const args = [WRANGLER, 'dev', path.join(buildDir, 'index.js'), '--local', '--no-bundle', '--config', 'wrangler.toml'];
    // The project's own [assets] section when it has one (its routing is what is tested); dist/web otherwise.
    if (!/^\[assets\]/m.test(readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8'))) args.push('--assets', WEB_DIST);
    args.push('--port', String(port), '--ip', '127.0.0.1', '--inspector-port', String(inspectorPort), '--enable-containers=false', '--persist-to', persistTo);
    // The Cron Triggers can be fired over HTTP (`/cdn-cgi/handler/scheduled?cron=…`), as `npm start` allows.
    args.push('--test-scheduled');
    for (const [name, value] of Object.entries(vars)) args.push('--var', `${name}:${value}`);
    let output = '';
    const started = spawn(NODE, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: QUIET_ENV });
    child = started;
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
      if (options.verbose) process.stderr.write(`[wrangler] ${chunk}`);
    };
    started.stdout?.on('data', collect);
    started.stderr?.on('data', collect);
    await waitUntilReady(url, started, () => output);
    return { url, ffmpeg, stop: cleanUp };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
