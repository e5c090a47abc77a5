/**
 * Vitest globalSetup of the `workers` project (runs in Node, once per run): starts s3rver and
 * Azurite for the storage contract suite, a second pair that a failure test may stop mid-test
 * (through a small control server, since workerd cannot signal processes), and a server that never
 * answers. Endpoints reach the tests through `provide`; tests in workerd read them with `inject`.
 * Everything is stopped when the run ends.
 */
import { createServer } from 'node:http';
import type { TestProject } from 'vitest/node';
import { S3RVER_CREDENTIALS, closedPort, startAll, startAzurite, startBlackhole, startS3rver, type RunningEmulator } from './support/emulators';

interface S3Endpoint {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

interface AzureEndpoint {
  connectionString: string;
  container: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3Endpoint;
    azure: AzureEndpoint;
    /** Emulators only the failure tests use: `POST <controlEndpoint>/stop/s3` (or `/stop/azure`) kills one. */
    disposable: { s3: S3Endpoint; azure: AzureEndpoint; controlEndpoint: string };
    /** Accepts TCP connections and never replies. */
    blackholeEndpoint: string;
    /** Nothing listens on it. */
    closedEndpoint: string;
  }
}

/** A tiny HTTP server on 127.0.0.1 that stops a disposable emulator on request. */
async function startControl(emulators: Record<string, RunningEmulator>): Promise<RunningEmulator> {
  const server = createServer((request, response) => {
    const name = /^\/stop\/(\w+)$/.exec(request.url ?? '')?.[1];
    const emulator = name ? emulators[name] : undefined;
    if (request.method !== 'POST' || !emulator) {
      response.writeHead(404).end();
      return;
    }
    emulator.stop().then(
      () => response.writeHead(204).end(),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('control server has no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // workerd keeps connections alive; close() would wait for them
      }),
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [s3, azure, spareS3, spareAzure, blackhole] = await startAll(
    () => startS3rver(),
    () => startAzurite(),
    () => startS3rver(),
    () => startAzurite(),
    () => startBlackhole(),
  );
  const emulators = [s3, azure, spareS3, spareAzure, blackhole];
  const control = await startControl({ s3: spareS3, azure: spareAzure }).catch(async (error: unknown) => {
    await Promise.all(emulators.map((e) => e.stop()));
    throw error;
  });
  const s3Endpoint = (e: typeof s3): S3Endpoint => ({ endpoint: e.endpoint, bucket: e.bucket, region: 'us-east-1', ...S3RVER_CREDENTIALS });
  const azureEndpoint = (e: typeof azure): AzureEndpoint => ({ connectionString: e.connectionString, container: e.container });
  project.provide('s3', s3Endpoint(s3));
  project.provide('azure', azureEndpoint(azure));
  project.provide('disposable', { s3: s3Endpoint(spareS3), azure: azureEndpoint(spareAzure), controlEndpoint: control.endpoint });
  project.provide('blackholeEndpoint', blackhole.endpoint);
  project.provide('closedEndpoint', `http://127.0.0.1:${await closedPort()}`);
  return async () => {
    // stop() is idempotent: a disposable emulator a test already stopped is skipped.
    await Promise.all([...emulators, control].map((e) => e.stop()));
  };
}
