/**
 * Live recording throughput against `wrangler dev` on this machine (plain protocol, the `ws`
 * package as client):
 *  - one call of 20 ms Opus chunks (48 kbps → 120 bytes), sent as fast as acks allow;
 *  - one call of chunks at the size cap (256 KiB);
 *  - N concurrent calls (default 50) sending a 20 ms chunk every 20 ms for `durationSeconds`.
 * Every run ends with stop, and the recording is downloaded and compared byte for byte: a chunk
 * not acked, or a byte lost, fails the benchmark.
 *
 *   node bench/live-throughput.mjs [--duration 60] [--calls 50] [--url http://127.0.0.1:3010]
 *
 * Without --url it starts its own `wrangler dev` (see test/live/wrangler-dev.ts). `run()` returns
 * the rows and the markdown table, for `npm run bench`; `onRow` sees each row as it is measured.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OPUS_20MS = 120;
const CAP = 256 * 1024;

/** Chunk `i` of a call: deterministic bytes, so the download can be checked. */
function audio(seed, i, size) {
  const out = Buffer.alloc(size);
  let x = ((seed * 7919 + i) * 2654435761) >>> 0;
  for (let j = 0; j < size; j++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[j] = x >>> 24;
  }
  return out;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One plain-protocol call: start, chunks with their send times, acks, stop, download check. */
class Call {
  constructor(url, token, callId, seed) {
    Object.assign(this, { url, token, callId, seed });
    this.sentAt = new Map();
    this.latencies = [];
    this.acked = 0;
    this.sentBytes = 0;
    this.chunks = [];
    this.waiters = [];
    this.errors = [];
  }

  async open(WebSocket) {
    this.ws = new WebSocket(`${this.url.replace(/^http/, 'ws')}/api/v1/recordings/live`, { headers: { authorization: `Bearer ${this.token}` } });
    await new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.ws.on('message', (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type === 'ack') {
        const at = this.sentAt.get(frame.sequence);
        if (at !== undefined && !frame.duplicate) {
          this.latencies.push(performance.now() - at);
          this.sentAt.delete(frame.sequence);
          this.acked++;
        }
      } else if (frame.type === 'error') {
        this.errors.push(frame);
      }
      for (const waiter of [...this.waiters]) {
        if (waiter.match(frame)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    });
    this.ws.send(JSON.stringify({ type: 'start', callId: this.callId, format: 'ogg' }));
    this.started = await this.wait((f) => f.type === 'started' || f.type === 'error');
    if (this.started.type !== 'started') throw new Error(`start refused: ${JSON.stringify(this.started)}`);
  }

  wait(match, timeoutMs = 60_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.callId}: timed out`)), timeoutMs);
      this.waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  send(size) {
    const sequence = this.chunks.length;
    const data = audio(this.seed, sequence, size);
    this.chunks.push(data);
    const frame = Buffer.alloc(4 + size);
    frame.writeUInt32BE(sequence, 0);
    data.copy(frame, 4);
    this.sentAt.set(sequence, performance.now());
    this.sentBytes += size;
    this.ws.send(frame);
  }

  get inFlight() {
    return this.sentAt.size;
  }

  /**
   * Resolves once every chunk sent so far is acked. A service that is merely slow gets all the
   * time it needs; one whose acks stop coming for `stallMs` fails the run.
   */
  async drain(stallMs = 30_000) {
    let last = this.acked;
    let progressAt = Date.now();
    while (this.inFlight > 0) {
      if (this.acked !== last) {
        last = this.acked;
        progressAt = Date.now();
      }
      if (Date.now() - progressAt > stallMs) {
        throw new Error(`${this.callId}: ${this.inFlight} chunks never acked (errors: ${JSON.stringify(this.errors.slice(0, 3))})`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async finish() {
    await this.drain();
    this.ws.send(JSON.stringify({ type: 'stop' }));
    const stopped = await this.wait((f) => f.type === 'stopped' || f.type === 'error');
    this.ws.close();
    if (stopped.type !== 'stopped') throw new Error(`${this.callId}: stop answered ${JSON.stringify(stopped)}`);
    if (stopped.size !== this.sentBytes) throw new Error(`${this.callId}: stored ${stopped.size} bytes of ${this.sentBytes}`);
    const res = await fetch(`${this.url}/api/v1/recordings/${stopped.recordingId}/download`, { headers: { authorization: `Bearer ${this.token}` } });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200 || !body.equals(Buffer.concat(this.chunks))) throw new Error(`${this.callId}: the download differs from what was sent`);
    return stopped;
  }
}

/** One call sending `size`-byte chunks back to back, at most `window` unacked, for `seconds`. */
async function oneCall(ctx, label, size, window, seconds) {
  const call = new Call(ctx.url, await ctx.tokenFor(`bench-one-${size}`), `one-${size}-${Date.now()}`, size);
  await call.open(ctx.WebSocket);
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    while (call.inFlight < window && performance.now() < end) call.send(size);
    await new Promise((r) => setTimeout(r, 0));
  }
  await call.drain();
  const elapsed = (performance.now() - started) / 1000;
  await call.finish();
  const sorted = [...call.latencies].sort((a, b) => a - b);
  return {
    scenario: label,
    offered: null,
    chunks: call.acked,
    chunksPerSecond: call.acked / elapsed,
    megabytesPerSecond: call.sentBytes / elapsed / 1e6,
    ackP50: percentile(sorted, 50),
    ackP99: percentile(sorted, 99),
    lost: call.chunks.length - call.acked,
  };
}

/** `calls` calls at once, each sending a 20 ms chunk every 20 ms for `seconds`. */
async function concurrentCalls(ctx, calls, seconds) {
  const all = [];
  for (let i = 0; i < calls; i++) all.push(new Call(ctx.url, await ctx.tokenFor(`bench-user-${i}`), `concurrent-${i}-${Date.now()}`, 1000 + i));
  await Promise.all(all.map((c) => c.open(ctx.WebSocket)));
  const started = performance.now();
  const total = Math.round((seconds * 1000) / 20);
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      // Catch up on timer drift: each call has sent every chunk due by now.
      const due = Math.min(total, Math.floor((performance.now() - started) / 20) + 1);
      for (const call of all) while (call.chunks.length < due) call.send(OPUS_20MS);
      if (due >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const sendSeconds = (performance.now() - started) / 1000;
  // Acks may trail the sending (a backlog on a busy machine): the rate counts until the last one.
  await Promise.all(all.map((c) => c.drain()));
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all(all.map((c) => c.finish()));
  const sorted = all.flatMap((c) => c.latencies).sort((a, b) => a - b);
  const acked = all.reduce((n, c) => n + c.acked, 0);
  const sent = all.reduce((n, c) => n + c.chunks.length, 0);
  return {
    scenario: `${calls} concurrent calls, a ${OPUS_20MS} B chunk every 20 ms each, ${seconds} s`,
    offered: sent / sendSeconds,
    chunks: acked,
    chunksPerSecond: acked / elapsed,
    megabytesPerSecond: all.reduce((n, c) => n + c.sentBytes, 0) / elapsed / 1e6,
    ackP50: percentile(sorted, 50),
    ackP99: percentile(sorted, 99),
    lost: sent - acked,
  };
}

export function table(rows) {
  const lines = [
    '| scenario | offered chunks/s | acked chunks/s | MB/s | ack p50 (ms) | ack p99 (ms) | lost |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const offered = r.offered === null ? 'as fast as acked' : r.offered.toFixed(0);
    lines.push(`| ${r.scenario} | ${offered} | ${r.chunksPerSecond.toFixed(0)} | ${r.megabytesPerSecond.toFixed(2)} | ${r.ackP50.toFixed(1)} | ${r.ackP99.toFixed(1)} | ${r.lost} |`);
  }
  return lines.join('\n');
}

/**
 * Runs the three scenarios. `durationSeconds` is the concurrent run's length (the single-call runs
 * take min(duration, 10) s each); `url` points at a running service instead of starting one.
 */
export async function run({ durationSeconds = 60, calls = 50, url, onRow = () => {} } = {}) {
  const { default: WebSocket } = await import('ws');
  const dev = await import('../test/live/wrangler-dev.ts');
  const server = url ? null : await dev.startWranglerDev();
  const ctx = { url: url ?? server.url, tokenFor: dev.tokenFor, WebSocket };
  try {
    const single = Math.min(durationSeconds, 10);
    const rows = [];
    const progress = (row) => (onRow(row), row);
    rows.push(progress(await oneCall(ctx, `1 call, 20 ms chunks of ${OPUS_20MS} B (32 in flight)`, OPUS_20MS, 32, single)));
    rows.push(progress(await oneCall(ctx, `1 call, ${CAP / 1024} KiB chunks, the cap (4 in flight)`, CAP, 4, single)));
    rows.push(progress(await concurrentCalls(ctx, calls, durationSeconds)));
    const markdown = table(rows);
    return { rows, markdown };
  } finally {
    await server?.stop();
  }
}

function argument(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [major, minor] = process.versions.node.split('.').map(Number);
  const projectNode = path.join(ROOT, 'node_modules/.bin/node');
  if ((major < 22 || (major === 22 && minor < 18)) && existsSync(projectNode)) {
    // wrangler and TypeScript imports need Node ≥ 22.18: run again with the project's own Node.
    process.exit(spawnSync(projectNode, process.argv.slice(1), { stdio: 'inherit' }).status ?? 1);
  }
  const { markdown } = await run({
    durationSeconds: Number(argument('duration', '60')),
    calls: Number(argument('calls', '50')),
    url: argument('url', undefined),
    onRow: (row) => console.error(table([row]).split('\n').at(-1)),
  });
  console.log(markdown);
}
