/**
 * The whole service for browser tests: the web app built with Vite into dist/web, the Worker
 * bundled once (so that others editing src/ cannot reload it mid-test), `wrangler dev` serving
 * both (static assets first, the Worker for everything else) with local D1, R2, Queues and Durable
 * Objects (test/live/wrangler-dev.ts), and the FFmpeg server the media queue calls. Everything
 * binds to 127.0.0.1 on free ports.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startFfmpegServer, type FfmpegServer } from '../support/ffmpeg-server.ts';
import { NODE, ROOT, startWranglerDev } from '../live/wrangler-dev.ts';

export { ROOT } from '../live/wrangler-dev.ts';
export const WEB_DIST = path.join(ROOT, 'dist/web');
const VITE = path.join(ROOT, 'node_modules/vite/bin/vite.js');

export interface Service {
  /** `http://127.0.0.1:<port>`: the page and the API. */
  url: string;
  ffmpeg: FfmpegServer;
  stop(): Promise<void>;
}

/** `vite build`: src/web → dist/web (what `npm run build:web` does). */
export function buildWeb(): void {
  const result = spawnSync(NODE, [VITE, 'build', '--logLevel', 'warn'], { cwd: ROOT, env: { ...process.env, CI: 'true', FORCE_COLOR: '0', NO_COLOR: '1' }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`vite build failed:\n${result.stdout}\n${result.stderr}`);
}

/** `vars` adds Worker settings (e.g. WEBHOOK_URL) to the tests' own. */
export async function startService(options: { verbose?: boolean; vars?: Record<string, string> } = {}): Promise<Service> {
  buildWeb();
  const ffmpeg = await startFfmpegServer({ engine: 'native' });
  try {
    const dev = await startWranglerDev({ verbose: options.verbose, vars: { FFMPEG_URL: ffmpeg.url, ...options.vars } });
    return {
      url: dev.url,
      ffmpeg,
      async stop() {
        await dev.stop();
        await ffmpeg.stop();
      },
    };
  } catch (error) {
    await ffmpeg.stop();
    throw error;
  }
}
