/**
 * Issue #4 benchmarks: a 100 MB raw upload through the service vs a plain streamed R2 put from a
 * bare Worker (same run, alternating, medians of 5); the runtime's peak RSS for 10 MB and 100 MB
 * uploads in both; a 64 KiB tail range vs a full download; the chunk encryptor inside workerd vs
 * Node's AES-256-GCM on the same data.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { median, startWrangler, table, withPeakRss, BENCH_SECRETS } from './harness.mjs';

const SECRETS = BENCH_SECRETS;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function payload(size) {
  const bytes = randomBytes(size);
  bytes.set(Buffer.from('RIFF\0\0\0\0WAVEfmt '), 0);
  return bytes;
}

export async function run() {
  const service = await startWrangler({ migrate: true, vars: { ...SECRETS, ENVIRONMENT: 'test', RATE_LIMIT_DISABLED: 'true', LOG_LEVEL: 'error', FFMPEG_URL: 'http://127.0.0.1:9' } });
  const bare = await startWrangler({ config: 'bench/bare-worker/wrangler.toml' });
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bench-user').setExpirationTime('2h').sign(new TextEncoder().encode(SECRETS.JWT_SECRET));
  const auth = { authorization: `Bearer ${token}` };
  const query = new URLSearchParams({ callId: 'bench', callerPhone: '+14155550100', receiverPhone: '+14155550101', startTime: '2026-11-20T10:00:00Z' });
  const servicePid = service.workerdPid();
  const barePid = bare.workerdPid();
  const out = [];
  try {
    const upload = async (body) => {
      const res = await fetch(`${service.url}/api/v1/recordings?${query}`, { method: 'POST', headers: { ...auth, 'content-type': 'audio/wav' }, body });
      if (res.status !== 201) throw new Error(`upload ${res.status} ${await res.text()}`);
      return (await res.json()).id;
    };
    const put = async (body, key) => {
      const res = await fetch(`${bare.url}/r2/${key}`, { method: 'PUT', body });
      if (!res.ok) throw new Error(`bare put ${res.status}`);
    };

    // Throughput and memory, alternating service and bare.
    const rows = [];
    let lastId;
    for (const mb of [10, 100]) {
      const body = payload(mb * 1024 * 1024);
      const s = { ms: [], rss: [] };
      const b = { ms: [], rss: [] };
      for (let i = 0; i < RUNS; i++) {
        let t = performance.now();
        const sr = await withPeakRss(servicePid, () => upload(body));
        s.ms.push(performance.now() - t);
        s.rss.push(sr.growth);
        lastId = sr.result;
        t = performance.now();
        const br = await withPeakRss(barePid, () => put(body, `bench-${mb}-${i}`));
        b.ms.push(performance.now() - t);
        b.rss.push(br.growth);
      }
      const sMs = median(s.ms);
      const bMs = median(b.ms);
      rows.push([
        `${mb} MB`,
        `${((mb / sMs) * 1000).toFixed(1)} MB/s`,
        `${((mb / bMs) * 1000).toFixed(1)} MB/s`,
        `${(sMs / bMs).toFixed(2)}×`,
        `${(median(s.rss) / 1048576).toFixed(1)} MB`,
        `${(median(b.rss) / 1048576).toFixed(1)} MB`,
        `${((median(s.rss) - median(b.rss)) / 1048576).toFixed(1)} MB`,
      ]);
    }
    out.push(table(`Upload through the service vs a plain streamed R2 put (medians of ${RUNS} alternating runs)`, ['size', 'service', 'bare R2 put', 'time ratio (goal ≤ 1.2)', 'service peak RSS growth', 'bare peak RSS growth', 'service − bare (goal ≤ 16 MB)'], rows));

    // Tail range vs full download of the last 100 MB recording.
    const size = 100 * 1024 * 1024;
    const tail = [];
    const full = [];
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      const r = await fetch(`${service.url}/api/v1/recordings/${lastId}/stream`, { headers: { ...auth, range: `bytes=${size - 65536}-` } });
      await r.arrayBuffer();
      tail.push(performance.now() - t);
      t = performance.now();
      const d = await fetch(`${service.url}/api/v1/recordings/${lastId}/download`, { headers: auth });
      await d.arrayBuffer();
      full.push(performance.now() - t);
    }
    out.push(table(`64 KiB tail range vs full download of 100 MB (medians of ${RUNS})`, ['tail range', 'full download', 'speed-up (goal ≥ 50×)'], [[`${median(tail).toFixed(1)} ms`, `${median(full).toFixed(0)} ms`, `${(median(full) / median(tail)).toFixed(0)}×`]]));

    // Chunk encryptor in workerd vs Node's AES-256-GCM over 16 KiB chunks.
    const MB = 256;
    const workerd = [];
    const node = [];
    const key = randomBytes(32);
    const chunk = randomBytes(16384);
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      await (await fetch(`${bare.url}/crypto?mb=0`)).json();
      const overhead = performance.now() - t;
      t = performance.now();
      await (await fetch(`${bare.url}/crypto?mb=${MB}`)).json();
      workerd.push(MB / ((performance.now() - t - overhead) / 1000));
      t = performance.now();
      for (let c = 0; c < (MB * 1024 * 1024) / chunk.length; c++) {
        const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12));
        cipher.update(chunk);
        cipher.final();
        cipher.getAuthTag();
      }
      node.push(MB / ((performance.now() - t) / 1000));
    }
    out.push(table(`Chunk encryptor inside workerd vs Node crypto AES-256-GCM, ${MB} MB in 16 KiB chunks (medians of ${RUNS})`, ['workerd seal stream', 'node:crypto', 'ratio (goal ≥ 0.5)'], [[`${median(workerd).toFixed(0)} MB/s`, `${median(node).toFixed(0)} MB/s`, `${(median(workerd) / median(node)).toFixed(2)}`]]));
  } finally {
    await service.stop();
    await bare.stop();
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await run());
