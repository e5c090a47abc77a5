/**
 * The same 100 MB upload and 64 KiB tail-range read through the service on each storage provider,
 * as ratios against R2 in the same run: one `wrangler dev` per provider (STORAGE_PROVIDER and the
 * provider's settings passed with `--var`), R2 local to Miniflare, S3 against s3rver and Azure Blob
 * against Azurite (both started here on 127.0.0.1). Every figure crosses the whole service: auth,
 * format gate, AES-256-GCM chunk sealing, the adapter and its SDK, the emulator. Medians of 5 runs,
 * the providers' order rotating between runs. Beside them, the highest RSS each provider's workerd
 * process reached during the uploads (the SDKs and their buffers, against the R2 binding's).
 * Growth per upload is not shown: after the first 100 MB the process keeps its high-water mark.
 *
 * `run()` is what `npm run bench` calls and returns markdown; `node bench/storage-providers.mjs`
 * (Node ≥ 22.18, for the emulators' TypeScript helper) runs it alone.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { SignJWT } from 'jose';
import { S3RVER_CREDENTIALS, startAll, startAzurite, startS3rver } from '../test/support/emulators.ts';
import { median, startWrangler, table, withPeakRss, BENCH_SECRETS } from './harness.mjs';

const SECRETS = BENCH_SECRETS;
const COMMON_VARS = { ...SECRETS, ENVIRONMENT: 'test', RATE_LIMIT_DISABLED: 'true', LOG_LEVEL: 'error', FFMPEG_URL: 'http://127.0.0.1:9' };
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MiB = 1024 * 1024;
const SIZE = 100 * MiB;
const TAIL = 64 * 1024;
const QUERY = new URLSearchParams({ callId: 'bench', callerPhone: '+14155550100', receiverPhone: '+14155550101', startTime: '2026-11-20T10:00:00Z' });

/** One random WAV-looking body, sent every time: the figures measure the path, not the RNG. */
function payload() {
  const bytes = randomBytes(SIZE);
  bytes.set(Buffer.from('RIFF\0\0\0\0WAVEfmt '), 0);
  return bytes;
}

async function timed(fn) {
  const started = performance.now();
  const result = await fn();
  return { ms: performance.now() - started, result };
}

/** The service on one provider, driven through its HTTP API. */
function client(name, service, auth) {
  return {
    name,
    service,
    async upload(body) {
      const res = await fetch(`${service.url}/api/v1/recordings?${QUERY}`, { method: 'POST', headers: { ...auth, 'content-type': 'audio/wav' }, body });
      if (res.status !== 201) throw new Error(`${name}: upload answered ${res.status} ${await res.text()}`);
      return (await res.json()).id;
    },
    async tail(id) {
      const res = await fetch(`${service.url}/api/v1/recordings/${id}/stream`, { headers: { ...auth, range: `bytes=${SIZE - TAIL}-` } });
      if (res.status !== 206) throw new Error(`${name}: tail range answered ${res.status} ${await res.text()}`);
      return (await res.arrayBuffer()).byteLength;
    },
    async remove(id) {
      const res = await fetch(`${service.url}/api/v1/recordings/${id}`, { method: 'DELETE', headers: auth });
      if (res.status !== 204) throw new Error(`${name}: delete answered ${res.status} ${await res.text()}`);
    },
  };
}

export async function run() {
  const [s3, azure] = await startAll(() => startS3rver(), () => startAzurite());
  const services = [];
  try {
    const providers = [
      ['R2 (Miniflare)', {}],
      [
        'S3 (s3rver)',
        {
          STORAGE_PROVIDER: 's3',
          AWS_REGION: 'us-east-1',
          AWS_BUCKET_NAME: s3.bucket,
          AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
          AWS_ENDPOINT: s3.endpoint,
        },
      ],
      ['Azure Blob (Azurite)', { STORAGE_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: azure.connectionString, AZURE_CONTAINER_NAME: azure.container }],
    ];
    // One at a time: each start applies the D1 migrations and compiles the bundle.
    for (const [, vars] of providers) services.push(await startWrangler({ migrate: true, vars: { ...COMMON_VARS, STORAGE_PROVIDER: 'r2', ...vars } }));
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bench-user').setExpirationTime('2h').sign(new TextEncoder().encode(SECRETS.JWT_SECRET));
    const auth = { authorization: `Bearer ${token}` };
    const clients = providers.map(([name], i) => client(name, services[i], auth));
    const pids = new Map(clients.map((c) => [c.name, c.service.workerdPid()]));
    const body = payload();

    // A warm-up per provider: the first S3/Azure request loads the SDK and builds the client.
    for (const c of clients) await c.remove(await c.upload(body.subarray(0, MiB)));

    const samples = new Map(clients.map((c) => [c.name, { upload: [], tail: [], rss: [] }]));
    for (let runIndex = 0; runIndex < RUNS; runIndex++) {
      const order = clients.map((_, i) => clients[(i + runIndex) % clients.length]);
      for (const c of order) {
        const upload = await timed(() => withPeakRss(pids.get(c.name), () => c.upload(body)));
        const id = upload.result.result;
        const tail = await timed(() => c.tail(id));
        if (tail.result !== TAIL) throw new Error(`${c.name} returned ${tail.result} bytes for a ${TAIL}-byte range`);
        await c.remove(id);
        const s = samples.get(c.name);
        s.upload.push(upload.ms);
        s.tail.push(tail.ms);
        s.rss.push(upload.result.peak);
      }
    }

    const rows = clients.map((c) => {
      const s = samples.get(c.name);
      return { name: c.name, upload: median(s.upload), tail: median(s.tail), rss: Math.max(...s.rss) };
    });
    const r2 = rows[0];
    return table(
      `Storage providers through the service: ${SIZE / MiB} MiB raw upload and ${TAIL / 1024} KiB tail range (medians of ${RUNS} runs, order rotating; one wrangler dev per provider)`,
      ['provider', 'upload', 'throughput', 'upload vs R2', 'tail range', 'tail vs R2', 'workerd peak RSS'],
      rows.map((row) => [
        row.name,
        `${row.upload.toFixed(0)} ms`,
        `${(SIZE / MiB / (row.upload / 1000)).toFixed(1)} MiB/s`,
        `${(row.upload / r2.upload).toFixed(2)}×`,
        `${row.tail.toFixed(1)} ms`,
        `${(row.tail / r2.tail).toFixed(2)}×`,
        `${(row.rss / MiB).toFixed(0)} MiB`,
      ]),
    );
  } finally {
    await Promise.all([...services.map((s) => s.stop()), s3.stop(), azure.stop()]);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await run());
