/**
 * Starts the FFmpeg worker (containers/ffmpeg/server.mjs) as a child process of Node on 127.0.0.1
 * and a free port, as dev and tests reach it by URL where no container can run. Used by
 * test/node/ffmpeg-server.test.ts and by setups that point the Worker's FFMPEG_URL at it.
 * Written with erasable TypeScript only, so that Node can import it directly (type stripping).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopProcess } from './processes.ts';
import { TEST_SECRETS } from './secrets.ts';

const SERVER = fileURLToPath(new URL('../../containers/ffmpeg/server.mjs', import.meta.url));

export interface FfmpegServerOptions {
  /** FFMPEG_ENGINE; `auto` (the server's default) picks native when ffmpeg is on PATH. */
  engine?: 'native' | 'wasm' | 'auto';
  /** A fixed port; by default the server takes a free one and reports it. */
  port?: number;
  /** More environment for the server, e.g. `{ MAX_SECONDS: '1' }`. */
  env?: Record<string, string>;
}

export interface FfmpegServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** What the server expects in `Authorization: Bearer …` (the tests' FFMPEG_SHARED_SECRET). */
  secret: string;
  /** The engine the server reports on /healthz. */
  engine: 'native' | 'wasm';
  /** The server's process id, to look at what it spawned. */
  pid: number;
  stop(): Promise<void>;
}

/** Start the server and resolve once /healthz answers. */
export async function startFfmpegServer(options: FfmpegServerOptions = {}): Promise<FfmpegServer> {
  const secret = TEST_SECRETS.FFMPEG_SHARED_SECRET;
  const child = spawn(process.execPath, [SERVER], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(options.port ?? 0),
      FFMPEG_ENGINE: options.engine ?? 'auto',
      FFMPEG_SHARED_SECRET: secret,
      ...options.env,
    },
  });
  const stop = () => stopProcess(child, 3_000);
  try {
    const port = await listeningPort(child);
    const url = `http://127.0.0.1:${port}`;
    const health = (await (await fetch(`${url}/healthz`)).json()) as { ok: boolean; engine: 'native' | 'wasm' };
    if (!health.ok) throw new Error(`the FFmpeg server at ${url} is not healthy`);
    return { url, secret, engine: health.engine, pid: child.pid ?? 0, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The port from the server's first log line, `{"message":"listening",…,"port":N}`. */
function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`the FFmpeg server did not start within 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"message":"listening".*"port":(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.stdout?.off('data', onData).resume();
        // From here on only the server's error lines matter: show them with the test's output.
        child.stderr?.off('data', onData).on('data', (line: Buffer) => process.stderr.write(`[ffmpeg-server] ${line}`));
        resolve(Number(match[1]));
      }
    };
    const onExit = (code: number | null) => fail(new Error(`the FFmpeg server exited with ${code} before listening:\n${output}`));
    function fail(error: Error) {
      clearTimeout(timer);
      reject(error);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}
