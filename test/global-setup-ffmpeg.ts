/**
 * Vitest globalSetup of the `workers` project (runs in Node, once per run): starts the FFmpeg
 * worker (containers/ffmpeg/server.mjs) with the tests' FFMPEG_SHARED_SECRET, as the Worker reaches
 * it by URL where no container can run. vitest.config.ts reads `ffmpegUrl` with `inject` and makes
 * it the Worker's FFMPEG_URL; `ffmpegDownUrl` is a port nothing listens on, for a worker that is
 * down. FFMPEG_ENGINE in the environment (native | wasm) picks the engine; by default native when
 * ffmpeg is installed, else WebAssembly.
 */
import type { TestProject } from 'vitest/node';
import { closedPort } from './support/emulators';
import { startFfmpegServer } from './support/ffmpeg-server';
import { TEST_SECRETS } from './support/secrets';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the running FFmpeg worker. */
    ffmpegUrl: string;
    /** The engine it runs. */
    ffmpegEngine: 'native' | 'wasm';
    /** Nothing listens on it: an FFmpeg worker that is down. */
    ffmpegDownUrl: string;
  }
}

const ENGINES = ['native', 'wasm', 'auto'] as const;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const requested = process.env.FFMPEG_ENGINE ?? 'auto';
  const engine = ENGINES.find((name) => name === requested);
  if (!engine) throw new Error(`FFMPEG_ENGINE must be native, wasm or auto, not ${JSON.stringify(requested)}`);
  const server = await startFfmpegServer({ engine });
  if (server.secret !== TEST_SECRETS.FFMPEG_SHARED_SECRET) {
    await server.stop();
    throw new Error('the FFmpeg server was started with a secret the Worker does not send');
  }
  project.provide('ffmpegUrl', server.url);
  project.provide('ffmpegEngine', server.engine);
  project.provide('ffmpegDownUrl', `http://127.0.0.1:${await closedPort()}`);
  return () => server.stop();
}
