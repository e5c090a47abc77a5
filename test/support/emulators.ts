/**
 * Starts the storage emulators the S3 and Azure adapters are tested and benchmarked against, as
 * child processes of Node on 127.0.0.1 and free ports: s3rver (S3) and Azurite (Azure Blob). Used
 * by test/global-setup-emulators.ts and bench/storage-providers.mjs; runs in Node, never in workerd.
 * Written with erasable TypeScript only, so that Node can import it directly (type stripping).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopProcess } from './processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = process.execPath;

/** s3rver's fixed development credentials: it checks SigV4 signatures against them. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
/** Azurite's well-known development account (documented by Microsoft, not a secret). */
export const AZURITE_ACCOUNT = {
  name: 'devstoreaccount1',
  key: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
} as const;

export interface RunningEmulator {
  /** Base URL: `http://127.0.0.1:<port>` for s3rver, `…/<account>` for Azurite. */
  endpoint: string;
  stop(): Promise<void>;
}

export interface S3Emulator extends RunningEmulator {
  bucket: string;
}

export interface AzureEmulator extends RunningEmulator {
  container: string;
  connectionString: string;
}

/** Runs `args` under Node and resolves with the port printed on the first line matching `pattern`. */
function startProcess(args: string[], pattern: RegExp, cwd: string, what: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(NODE, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  // Never outlive the process that started it, whatever way that process ends.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  return new Promise((resolve, reject) => {
    let output = '';
    // Generous: on a loaded 2-core machine Azurite alone has taken 19 s to listen.
    const timer = setTimeout(() => fail(new Error(`${what} did not start within 90 s:\n${output}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    };
    function fail(error: Error) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`${what} exited with ${code} before listening:\n${output}`)));
  });
}

/**
 * s3rver 3.7.1 with the bucket created. It runs under `--openssl-legacy-provider` because its
 * ListObjectsV2 continuation tokens are DES-encrypted, which OpenSSL 3 refuses by default: without
 * the flag every truncated listing answers 500.
 */
export async function startS3rver(bucket = 'recordings'): Promise<S3Emulator> {
  const directory = await mkdtemp(path.join(tmpdir(), 's3rver-'));
  const { child, port } = await startProcess(
    [
      '--openssl-legacy-provider',
      path.join(ROOT, 'node_modules/s3rver/bin/s3rver.js'),
      '--directory', directory,
      '--address', '127.0.0.1',
      '--port', '0',
      '--silent',
      '--no-vhost-buckets',
      '--configure-bucket', bucket,
    ],
    /S3rver listening on [\d.]+:(\d+)/,
    directory,
    's3rver',
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    async stop() {
      await stopProcess(child, 1_000);
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Azurite's blob service, in memory, with the container created. */
export async function startAzurite(container = 'recordings'): Promise<AzureEmulator> {
  const directory = await mkdtemp(path.join(tmpdir(), 'azurite-'));
  const { child, port } = await startProcess(
    [
      path.join(ROOT, 'node_modules/azurite/dist/src/blob/main.js'),
      '--blobHost', '127.0.0.1',
      '--blobPort', '0',
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--loose',
      '--disableProductStyleUrl',
    ],
    /successfully listens on http:\/\/[\d.]+:(\d+)/,
    directory,
    'Azurite',
  );
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT.name}`;
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT.name};AccountKey=${AZURITE_ACCOUNT.key};BlobEndpoint=${endpoint};`;
  const stop = async () => {
    await stopProcess(child, 1_000);
    await rm(directory, { recursive: true, force: true });
  };
  try {
    // Creating a container needs more than a service SAS: use the SDK's Node build, which signs with
    // the account key. `require` resolves it by Node's rules even when Vite (browser conditions) runs this file.
    const { BlobServiceClient } = createRequire(import.meta.url)('@azure/storage-blob') as typeof import('@azure/storage-blob');
    await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container).createIfNotExists();
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, container, connectionString, stop };
}

/**
 * Starts everything in `starters` at once. If one fails, the others are stopped before the error
 * is rethrown, so that a failed start leaves no process behind.
 */
export async function startAll<T extends readonly (() => Promise<RunningEmulator>)[]>(
  ...starters: T
): Promise<{ [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const results = await Promise.allSettled(starters.map((start) => start()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<RunningEmulator>).value) as { [K in keyof T]: Awaited<ReturnType<T[K]>> };
}

/**
 * A TCP server that accepts connections and never answers: a provider that hangs. Requests to it
 * end only by the client's own timeout.
 */
export async function startBlackhole(): Promise<RunningEmulator> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('blackhole server has no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port that nothing listens on (bound, then released): a provider that is down. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}
