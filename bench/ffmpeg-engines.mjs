/**
 * Native ffmpeg against @ffmpeg/core (WebAssembly) on the same input in the same run: the time and
 * peak memory of transcoding a generated WAV to the `high` rendition (Opus in WebM) and to MP3,
 * through containers/ffmpeg/engines.mjs, on one core. Each measurement is a fresh Node process
 * pinned with `taskset -c 0` (when taskset exists) that loads the engine, runs one warm-up job
 * (a long-running server has compiled and tiered up the wasm code already), then the timed job.
 * Runs alternate between the engines; the table shows medians.
 *
 * Peak memory is what the engine adds: for native, the ffmpeg process's high-water mark (VmHWM,
 * polled every 5 ms); for wasm, the Node process's peak RSS minus its RSS before the core was
 * loaded (compiled code, the instance's memory, the in-memory input and output).
 *
 * `node bench/ffmpeg-engines.mjs [--seconds 60] [--runs 5]` prints a markdown table; `run()`
 * returns the rows.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const CONTAINER = new URL('../containers/ffmpeg/', import.meta.url);
const PROFILES = /** @type {const} */ (['high', 'mp3']);
const ENGINES = /** @type {const} */ (['native', 'wasm']);
const RATE = 48_000;

/**
 * @typedef {object} EngineRow
 * @property {string} profile
 * @property {number} audioSeconds
 * @property {number} nativeMs median wall time of the job
 * @property {number} wasmMs
 * @property {number} timeRatio wasm / native
 * @property {number} nativePeakMiB median peak memory of the job
 * @property {number} wasmPeakMiB
 * @property {number} memoryRatio wasm / native
 * @property {boolean} pinned whether the jobs ran on one core (taskset)
 */

/**
 * A mono 16-bit WAV with something for the encoders to work on: a voice-like tone whose pitch
 * and loudness wander, over low noise. Deterministic.
 */
function speechLikeWav(seconds) {
  const samples = Math.round(seconds * RATE);
  const out = Buffer.alloc(44 + samples * 2);
  out.write('RIFF', 0);
  out.writeUInt32LE(36 + samples * 2, 4);
  out.write('WAVEfmt ', 8);
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(RATE, 24);
  out.writeUInt32LE(RATE * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36);
  out.writeUInt32LE(samples * 2, 40);
  let noise = 1;
  let phase = 0;
  for (let i = 0; i < samples; i++) {
    const t = i / RATE;
    phase += (2 * Math.PI * (140 + 40 * Math.sin(2 * Math.PI * 0.7 * t))) / RATE;
    const envelope = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
    const voice = envelope * (Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.25 * Math.sin(3 * phase));
    noise = (noise * 1_103_515_245 + 12_345) % 2_147_483_648;
    out.writeInt16LE(Math.round(6000 * voice + 300 * (noise / 1_073_741_824 - 1)), 44 + i * 2);
  }
  return out;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const MiB = 1024 * 1024;

/** One measurement in a child process: `{ ms, peakBytes }`. */
function measure(pin, engine, profile, input, warmup) {
  const [command, ...prefix] = [...pin, process.execPath];
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...prefix, SELF, '--job', engine, profile, input, warmup], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}'));
      else reject(new Error(`${engine} ${profile} job failed (${code}):\n${stderr}`));
    });
  });
}

/**
 * Run the comparison.
 * @param {{ seconds?: number, runs?: number, log?: (line: string) => void }} [options]
 * @returns {Promise<EngineRow[]>}
 */
export async function run({ seconds = 60, runs = 5, log = () => {} } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-ffmpeg-'));
  try {
    const input = path.join(dir, 'input.wav');
    const warmup = path.join(dir, 'warmup.wav');
    await writeFile(input, speechLikeWav(seconds));
    await writeFile(warmup, speechLikeWav(2));
    const pinned = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
    const pin = pinned ? ['taskset', '-c', '0'] : [];
    /** @type {Record<string, Record<string, { ms: number, peakBytes: number }[]>>} */
    const results = Object.fromEntries(PROFILES.map((profile) => [profile, { native: [], wasm: [] }]));
    for (let round = 0; round < runs; round++) {
      for (const profile of PROFILES) {
        for (const engine of round % 2 === 0 ? ENGINES : [...ENGINES].reverse()) {
          const result = await measure(pin, engine, profile, input, warmup);
          results[profile][engine].push(result);
          log(`round ${round + 1}/${runs} ${profile} ${engine}: ${result.ms.toFixed(0)} ms, ${(result.peakBytes / MiB).toFixed(1)} MiB`);
        }
      }
    }
    return PROFILES.map((profile) => {
      const [nativeMs, wasmMs] = ENGINES.map((engine) => median(results[profile][engine].map((r) => r.ms)));
      const [nativePeak, wasmPeak] = ENGINES.map((engine) => median(results[profile][engine].map((r) => r.peakBytes)));
      return {
        profile,
        audioSeconds: seconds,
        nativeMs,
        wasmMs,
        timeRatio: wasmMs / nativeMs,
        nativePeakMiB: nativePeak / MiB,
        wasmPeakMiB: wasmPeak / MiB,
        memoryRatio: wasmPeak / nativePeak,
        pinned,
      };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** @param {EngineRow[]} rows */
export function markdownTable(rows) {
  const speed = (row, ms) => `${(ms / 1000).toFixed(2)} s (${((row.audioSeconds * 1000) / ms).toFixed(0)}× realtime)`;
  const lines = [
    `FFmpeg engines: ${rows[0]?.audioSeconds ?? 0} s of 48 kHz mono WAV, median of the runs, ${rows[0]?.pinned ? 'one core (taskset -c 0)' : 'unpinned (no taskset)'}`,
    '',
    '| rendition | native time | wasm time | wasm/native time | native peak memory | wasm peak memory | wasm/native memory |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (row) =>
        `| ${row.profile === 'high' ? 'high (Opus 48k WebM)' : 'mp3 (LAME 64k)'} | ${speed(row, row.nativeMs)} | ${speed(row, row.wasmMs)} | ` +
        `${row.timeRatio.toFixed(2)}× | ${row.nativePeakMiB.toFixed(1)} MiB | ${row.wasmPeakMiB.toFixed(1)} MiB | ${row.memoryRatio.toFixed(2)}× |`,
    ),
  ];
  return lines.join('\n');
}

/** The pids of this process's children (ffmpeg, for the native engine). */
async function childPids() {
  const pids = [];
  for (const task of await readdir('/proc/self/task')) {
    const children = await readFile(`/proc/self/task/${task}/children`, 'utf8').catch(() => '');
    pids.push(...children.split(' ').filter(Boolean).map(Number));
  }
  return pids;
}

async function highWaterMark(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** The child side: one warm-up job, then the timed one; prints `{ ms, peakBytes }`. */
async function job(engineName, profile, input, warmup) {
  const rssBefore = process.memoryUsage.rss();
  const { createEngine } = await import(new URL('engines.mjs', CONTAINER).href);
  const { transcodeCommand } = await import(new URL('commands.mjs', CONTAINER).href);
  const engine = await createEngine(engineName);
  const probe = await engine.probe(input, { countSamples: false });
  const { args } = transcodeCommand(profile, probe, { denoise: false });
  const output = `${input}.${engineName}.${profile}.out`;
  await engine.transcode(warmup, output, args);

  let nativePeak = 0;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      for (const pid of await childPids()) nativePeak = Math.max(nativePeak, await highWaterMark(pid));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const started = performance.now();
  await engine.transcode(input, output, args);
  const ms = performance.now() - started;
  polling = false;
  await poll;
  await engine.close();
  await rm(output, { force: true });
  const peakBytes = engineName === 'native' ? nativePeak : process.resourceUsage().maxRSS * 1024 - rssBefore;
  process.stdout.write(`${JSON.stringify({ ms, peakBytes })}\n`);
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  if (process.argv[2] === '--job') {
    const [engine, profile, input, warmup] = process.argv.slice(3);
    await job(engine, profile, input, warmup);
  } else {
    const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, runs: { type: 'string', default: '5' } } });
    const rows = await run({ seconds: Number(values.seconds), runs: Number(values.runs), log: (line) => console.error(line) });
    console.log(markdownTable(rows));
  }
}
