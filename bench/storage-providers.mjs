/**
 * The same 100 MB upload (5 MiB multipart parts) and 64 KiB tail-range read through each storage
 * provider, as ratios against R2 in the same run: R2 through a Worker in Miniflare (the local R2
 * the service uses), S3 against s3rver and Azure Blob against Azurite, both through their SDKs
 * from Node. Medians of 5 runs, the providers' order rotating between runs.
 *
 * This measures the providers' local stand-ins and the SDK paths, not the service: once the
 * recordings API runs on each provider, the same figures should be taken through the Worker.
 * `run()` is what `npm run bench` calls; `node bench/storage-providers.mjs` runs it alone.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { S3RVER_CREDENTIALS, startAll, startAzurite, startS3rver } from '../test/support/emulators.ts';

const require = createRequire(import.meta.url);
// Node builds (account keys are fine outside workerd).
const { S3Client, CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand, GetObjectCommand, DeleteObjectCommand } =
  require('@aws-sdk/client-s3');
const { BlobServiceClient } = require('@azure/storage-blob');

const MiB = 1024 * 1024;
const PART_SIZE = 5 * MiB;
const TOTAL = 100 * MiB;
const TAIL = 64 * 1024;
const RUNS = 5;

/** One random part, sent 20 times: the figures measure transfer, not random number generation. */
const PART = new Uint8Array(PART_SIZE).map(() => (Math.random() * 256) | 0);
const PARTS = TOTAL / PART_SIZE;

/** The Worker that stands for the service in front of local R2: streams PUT bodies into 5 MiB parts. */
const R2_WORKER = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const key = url.pathname.slice(1);
    if (request.method === 'PUT') {
      const upload = await env.BUCKET.createMultipartUpload(key);
      const parts = [];
      const reader = request.body.getReader();
      let buffer = new Uint8Array(${PART_SIZE});
      let filled = 0;
      const flush = async () => {
        parts.push(await upload.uploadPart(parts.length + 1, buffer.subarray(0, filled)));
        buffer = new Uint8Array(${PART_SIZE});
        filled = 0;
      };
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let offset = 0;
        while (offset < value.byteLength) {
          const take = Math.min(${PART_SIZE} - filled, value.byteLength - offset);
          buffer.set(value.subarray(offset, offset + take), filled);
          filled += take;
          offset += take;
          if (filled === ${PART_SIZE}) await flush();
        }
      }
      if (filled > 0) await flush();
      await upload.complete(parts);
      return new Response(null, { status: 201 });
    }
    if (request.method === 'GET') {
      const offset = Number(url.searchParams.get('offset'));
      const length = Number(url.searchParams.get('length'));
      const object = await env.BUCKET.get(key, { range: { offset, length } });
      return object ? new Response(object.body) : new Response(null, { status: 404 });
    }
    await env.BUCKET.delete(key);
    return new Response(null, { status: 204 });
  },
};`;

function partsStream() {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === PARTS) return controller.close();
      sent++;
      controller.enqueue(PART.slice());
    },
  });
}

async function drain(stream) {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.byteLength;
  return bytes;
}

function r2Provider(mf) {
  return {
    name: 'R2 (Miniflare, via a Worker)',
    async upload(key) {
      const response = await mf.dispatchFetch(`http://bench.local/${key}`, { method: 'PUT', body: partsStream(), duplex: 'half' });
      if (response.status !== 201) throw new Error(`R2 upload answered ${response.status}`);
    },
    async tail(key) {
      const response = await mf.dispatchFetch(`http://bench.local/${key}?offset=${TOTAL - TAIL}&length=${TAIL}`);
      return drain(response.body);
    },
    async remove(key) {
      await (await mf.dispatchFetch(`http://bench.local/${key}`, { method: 'DELETE' })).arrayBuffer();
    },
  };
}

function s3Provider(emulator) {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: emulator.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const Bucket = emulator.bucket;
  return {
    name: 'S3 (s3rver, @aws-sdk/client-s3)',
    async upload(key) {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: key }));
      const parts = [];
      for (let n = 1; n <= PARTS; n++) {
        const { ETag } = await client.send(new UploadPartCommand({ Bucket, Key: key, UploadId, PartNumber: n, Body: PART }));
        parts.push({ PartNumber: n, ETag });
      }
      await client.send(new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
    },
    async tail(key) {
      const object = await client.send(new GetObjectCommand({ Bucket, Key: key, Range: `bytes=${TOTAL - TAIL}-${TOTAL - 1}` }));
      return drain(object.Body);
    },
    async remove(key) {
      await client.send(new DeleteObjectCommand({ Bucket, Key: key }));
    },
  };
}

function azureProvider(emulator) {
  const container = BlobServiceClient.fromConnectionString(emulator.connectionString).getContainerClient(emulator.container);
  return {
    name: 'Azure Blob (Azurite, @azure/storage-blob)',
    async upload(key) {
      const blob = container.getBlockBlobClient(key);
      const ids = [];
      for (let n = 1; n <= PARTS; n++) {
        const id = Buffer.from(`part-${String(n).padStart(5, '0')}`).toString('base64');
        await blob.stageBlock(id, PART, PART_SIZE);
        ids.push(id);
      }
      await blob.commitBlockList(ids);
    },
    async tail(key) {
      const download = await container.getBlockBlobClient(key).download(TOTAL - TAIL, TAIL);
      return drain(download.readableStreamBody);
    },
    async remove(key) {
      await container.getBlockBlobClient(key).deleteIfExists();
    },
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(fn) {
  const started = performance.now();
  const result = await fn();
  return { ms: performance.now() - started, result };
}

/** Runs the benchmark, prints a markdown table and returns the medians. */
export async function run({ log = console.log } = {}) {
  const [s3, azure] = await startAll(() => startS3rver(), () => startAzurite());
  let mf;
  try {
    // Miniflare 5 takes a new options shape; the converter accepts the familiar (v4) one.
    mf = new Miniflare(convertV4MiniflareOptions({ modules: true, script: R2_WORKER, r2Buckets: ['BUCKET'], compatibilityDate: '2026-11-01' }));
    await mf.ready;
    const providers = [r2Provider(mf), s3Provider(s3), azureProvider(azure)];
    const samples = new Map(providers.map((p) => [p.name, { upload: [], tail: [] }]));
    for (let runIndex = 0; runIndex < RUNS; runIndex++) {
      const order = providers.map((_, i) => providers[(i + runIndex) % providers.length]);
      for (const provider of order) {
        const key = `bench/${runIndex}/recording.wav`;
        const upload = await timed(() => provider.upload(key));
        const tail = await timed(() => provider.tail(key));
        if (tail.result !== TAIL) throw new Error(`${provider.name} returned ${tail.result} bytes for a ${TAIL}-byte range`);
        await provider.remove(key);
        samples.get(provider.name).upload.push(upload.ms);
        samples.get(provider.name).tail.push(tail.ms);
      }
    }
    const rows = providers.map((p) => ({ provider: p.name, uploadMs: median(samples.get(p.name).upload), tailMs: median(samples.get(p.name).tail) }));
    const r2 = rows[0];
    const table = [
      `Storage providers: ${TOTAL / MiB} MiB upload in ${PART_SIZE / MiB} MiB parts, ${TAIL / 1024} KiB tail-range read (median of ${RUNS}, order rotating)`,
      '',
      '| provider | upload (ms) | MiB/s | upload vs R2 | tail read (ms) | tail vs R2 |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows.map(
        (row) =>
          `| ${row.provider} | ${row.uploadMs.toFixed(0)} | ${(TOTAL / MiB / (row.uploadMs / 1000)).toFixed(0)} | ${(row.uploadMs / r2.uploadMs).toFixed(2)}× | ${row.tailMs.toFixed(1)} | ${(row.tailMs / r2.tailMs).toFixed(2)}× |`,
      ),
    ].join('\n');
    log(table);
    return { rows, table };
  } finally {
    await Promise.all([mf?.dispose(), s3.stop(), azure.stop()]);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run();
}
