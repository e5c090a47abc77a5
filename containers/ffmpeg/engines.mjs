/**
 * How ffmpeg runs. Two engines answer the same calls: `native` spawns the distribution's
 * ffmpeg/ffprobe (what production runs, see the Dockerfile) and `wasm` runs @ffmpeg/core, FFmpeg
 * compiled to WebAssembly, so that a machine with only `npm ci` processes audio too. What ffmpeg
 * is asked to do lives in commands.mjs and does not know which engine runs it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { INPUT, inputArgs, sniffDemuxer } from './input-guard.mjs';

/**
 * @typedef {object} Probe What `/probe` answers.
 * @property {string} format Short container name: wav, webm, ogg, mp3, m4a, flac, …
 * @property {string} codec ffmpeg's codec name of the first audio stream (pcm_s16le, opus, mp3, …).
 * @property {number} durationMs Counted from decoded samples unless the container is WAV.
 * @property {number} channels
 * @property {number} sampleRate The decoder's output rate, the rate sample positions refer to.
 * @property {number | null} bitRate Bits per second of the audio stream, or of the file when the stream has none.
 */

/**
 * @typedef {object} RunOptions
 * @property {number} [deadline] `Date.now()` value by which the call must end, else `MediaError('timeout')`.
 * @property {AbortSignal} [signal] Aborts the call (the client went away).
 * @property {boolean} [countSamples] `probe` only: decode the audio to measure its duration (default true).
 */

/**
 * @typedef {object} Engine
 * @property {'native' | 'wasm'} name
 * @property {(inputPath: string, options?: RunOptions) => Promise<Probe>} probe
 * @property {(inputPath: string, outputPath: string, args: string[], options?: RunOptions) => Promise<void>} transcode
 *   Runs `ffmpeg <input> ...args output`, the input as input-guard.mjs names it; `args` choose
 *   streams, filters, codec and muxer (`-f`), and may name no other input.
 * @property {(inputPath: string, args: string[], options?: RunOptions) => Promise<string>} analyze
 *   Runs `ffmpeg <input> ...args` for what it prints to stdout (`args` end with their own output,
 *   e.g. `-f null -`, and name no other input). The wasm engine refuses with `not_implemented`:
 *   its FFmpeg has no `asr`.
 * @property {() => Promise<void>} close Ends running jobs (they fail with `service_unavailable`), and refuses later ones.
 */

/**
 * An error with a stable code the server renders as JSON. `message` is ours, written for the
 * recording's owner; `detail` is what ffmpeg said, for the server's log only: its diagnostics can
 * quote the input, so they never go into an answer.
 */
export class MediaError extends Error {
  name = 'MediaError';
  /** @param {'unprocessable' | 'not_implemented' | 'timeout' | 'aborted' | 'service_unavailable' | 'internal'} code @param {string} message @param {{ cause?: unknown, detail?: string }} [options] */
  constructor(code, message, options) {
    super(message, options);
    this.code = code;
    this.detail = options?.detail;
  }
}

/**
 * The whole environment of every ffmpeg/ffprobe process and wasm job: the server's own holds
 * FFMPEG_SHARED_SECRET, and a child's environment is a file it can read (`/proc/self/environ`),
 * so a crafted input that got past the guard could still quote it. PATH alone is inherited: ffmpeg
 * needs nothing else from the environment.
 * @returns {Record<string, string>}
 */
export function childEnvironment() {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin' };
}

/** The placeholder of the output path in argument lists (the input's is input-guard.mjs's). */
const OUTPUT = '\u0000output';

/** ffmpeg on PATH, both binaries: what `auto` looks for. */
export function nativeAvailable() {
  return ['ffmpeg', 'ffprobe'].every((binary) =>
    (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
      try {
        accessSync(path.join(dir, binary), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }),
  );
}

/**
 * Build the engine named by FFMPEG_ENGINE. Fails here, at startup, when it cannot run: no ffmpeg
 * binary for `native`, no @ffmpeg/core for `wasm`.
 * @param {'native' | 'wasm' | 'auto'} name
 * @returns {Promise<Engine>}
 */
export async function createEngine(name = 'auto') {
  const chosen = name === 'auto' ? (nativeAvailable() ? 'native' : 'wasm') : name;
  if (chosen === 'native') {
    if (!nativeAvailable()) throw new Error('FFMPEG_ENGINE=native but ffmpeg and ffprobe are not both on PATH');
    return engineFrom('native', createNativeRunner());
  }
  if (chosen === 'wasm') return engineFrom('wasm', await createWasmRunner());
  throw new Error(`FFMPEG_ENGINE must be native, wasm or auto, not ${JSON.stringify(name)}`);
}

/**
 * @typedef {{ code: number, stdout: string, stderr: string }} RunResult
 * @typedef {(tool: 'ffmpeg' | 'ffprobe', args: string[], files: { input: string, output?: string }, options: RunOptions) => Promise<RunResult>} Runner
 */

/**
 * The one way both engines run a tool on an input: the demuxer sniffed from the file itself
 * (an unrecognised file is refused before ffmpeg sees it), then input-guard.mjs's input
 * arguments, then `args`, which may not name a second input.
 * @param {Runner} run @param {'ffmpeg' | 'ffprobe'} tool @param {string[]} globalArgs @param {string[]} args
 * @param {{ input: string, output?: string }} files @param {RunOptions} options
 */
async function runOnInput(run, tool, globalArgs, args, files, options) {
  if (args.includes('-i') || args.includes(INPUT)) throw new MediaError('internal', 'a command may name no input of its own');
  const demuxer = await sniffDemuxer(files.input);
  if (!demuxer) throw new MediaError('unprocessable', 'not a recognised audio format');
  return run(tool, [...globalArgs, ...inputArgs(demuxer), ...args], files, options);
}

/** @param {'native' | 'wasm'} name @param {Runner & { close(): Promise<void> }} runner @returns {Engine} */
function engineFrom(name, runner) {
  return {
    name,
    probe: (inputPath, options = {}) => probeWith(runner, inputPath, options),
    async transcode(inputPath, outputPath, args, options = {}) {
      const result = await runOnInput(runner, 'ffmpeg', ['-hide_banner', '-nostdin', '-nostats', '-v', 'error', '-y'], [...args, OUTPUT], { input: inputPath, output: outputPath }, options);
      if (result.code !== 0) throw new MediaError('unprocessable', 'ffmpeg could not process the audio', { detail: lastLine(result.stderr) });
    },
    async analyze(inputPath, args, options = {}) {
      if (name === 'wasm') {
        throw new MediaError('not_implemented', 'the WebAssembly engine cannot transcribe: its FFmpeg is built without the asr filter (PocketSphinx); run the native engine');
      }
      const result = await runOnInput(runner, 'ffmpeg', ['-hide_banner', '-nostdin', '-nostats', '-v', 'error'], args, { input: inputPath }, options);
      if (result.code !== 0) throw new MediaError('unprocessable', 'ffmpeg could not analyse the audio', { detail: lastLine(result.stderr) });
      return result.stdout;
    },
    close: () => runner.close(),
  };
}

/** @param {Runner} run @param {string} inputPath @param {RunOptions} options @returns {Promise<Probe>} */
async function probeWith(run, inputPath, options) {
  const probed = await runOnInput(run, 'ffprobe', ['-hide_banner', '-v', 'error', '-print_format', 'json', '-show_format', '-show_streams'], [], { input: inputPath }, options);
  /** @type {{ format?: Record<string, any>, streams?: Record<string, any>[] }} */
  let info = {};
  try {
    info = JSON.parse(probed.stdout);
  } catch {
    // ffprobe printed nothing usable: the input is not a media file; its stderr says why.
  }
  const container = info.format;
  if (!container) throw new MediaError('unprocessable', 'not a readable audio file', { detail: lastLine(probed.stderr) });
  const streams = info.streams ?? [];
  const audio = streams.find((stream) => stream.codec_type === 'audio');
  if (!audio) throw new MediaError('unprocessable', 'the file has no audio stream');

  const format = shortFormatName(String(container.format_name), String(audio.codec_name), streams);
  const sampleRate = Number(audio.sample_rate);
  const channels = Number(audio.channels);
  if (!(sampleRate > 0) || !(channels > 0)) throw new MediaError('unprocessable', 'the audio stream has no sample rate or channels');

  // Only WAV's duration is arithmetic on its byte count. Elsewhere it is a claim — a header total
  // (a truncated FLAC keeps it) or the last timestamp (MediaRecorder WebM has no header duration,
  // and one missing chunks in the middle still looks long) — so count what decodes.
  const claimedMs = Number(container.duration) * 1000;
  let durationMs = Number.isFinite(claimedMs) ? claimedMs : 0;
  if (options.countSamples !== false) {
    if (format !== 'wav' || durationMs === 0) {
      durationMs = ((await countDecodedSamples(run, inputPath, Number(audio.index), options)) / sampleRate) * 1000;
    }
    if (durationMs === 0) throw new MediaError('unprocessable', 'the audio stream has no samples');
  }

  const streamBitRate = Number(audio.bit_rate);
  const size = Number(container.size);
  const bitRate = streamBitRate > 0 ? streamBitRate : size > 0 && durationMs > 0 ? (size * 8 * 1000) / durationMs : null;
  return {
    format,
    codec: String(audio.codec_name),
    durationMs: Math.round(durationMs),
    channels,
    sampleRate,
    bitRate: bitRate === null ? null : Math.round(bitRate),
  };
}

/** Decode the stream to nowhere; ffmpeg's verbose summary counts the samples its decoder produced (after codec delay and padding are trimmed). */
async function countDecodedSamples(run, inputPath, streamIndex, options) {
  const result = await runOnInput(run, 'ffmpeg', ['-hide_banner', '-nostdin', '-nostats', '-v', 'verbose'], ['-map', `0:${streamIndex}`, '-f', 'null', '-'], { input: inputPath }, options);
  const counted = new RegExp(`Input stream #0:${streamIndex} \\(audio\\):.* \\((\\d+) samples\\)`).exec(result.stderr);
  if (result.code !== 0 || !counted) throw new MediaError('unprocessable', 'the audio does not decode', { detail: lastLine(result.stderr) });
  const samples = Number(counted[1]);
  if (samples === 0) throw new MediaError('unprocessable', 'the audio stream decodes to no samples');
  return samples;
}

/** ffprobe's format names are demuxer lists ("matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2"); clients want the file type. */
function shortFormatName(formatName, codec, streams) {
  if (formatName === 'matroska,webm') return ['opus', 'vorbis'].includes(codec) ? 'webm' : 'mka';
  if (formatName.startsWith('mov,mp4')) return streams.some((stream) => stream.codec_type === 'video') ? 'mp4' : 'm4a';
  return formatName.split(',')[0];
}

/** The last meaningful line ffmpeg wrote, for the log (file paths are ours, not the caller's). */
function lastLine(stderr) {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('Aborted('));
  const line = lines.at(-1) ?? 'no diagnostic from ffmpeg';
  return line.replaceAll(/\S*\/(?:input|output)\b/g, 'input').slice(0, 300);
}

/** Keeps the first and last part of a stream of text: ffmpeg's summary is at the end, and a corrupt file can log megabytes. */
export class BoundedText {
  #head = '';
  #tail = '';
  #limit;
  constructor(limit = 64 * 1024) {
    this.#limit = limit;
  }
  push(text) {
    if (this.#head.length < this.#limit) {
      const room = this.#limit - this.#head.length;
      this.#head += text.slice(0, room);
      text = text.slice(room);
    }
    if (text) this.#tail = (this.#tail + text).slice(-this.#limit);
  }
  toString() {
    return this.#tail ? `${this.#head}\n${this.#tail}` : this.#head;
  }
}

const shuttingDown = () => new MediaError('service_unavailable', 'the FFmpeg worker is shutting down');

/** Rejects when the deadline passes or the signal aborts; `stop` ends the work either way. */
function guard(options, stop) {
  /** @type {(reason: MediaError) => void} */
  let fail = () => {};
  const failed = new Promise((_, reject) => (fail = reject));
  const remaining = (options.deadline ?? Infinity) - Date.now();
  const onTimeout = () => {
    stop();
    fail(new MediaError('timeout', 'processing took longer than the time limit'));
  };
  const onAbort = () => {
    stop();
    fail(new MediaError('aborted', 'the request was aborted'));
  };
  const timer = Number.isFinite(remaining) ? setTimeout(onTimeout, Math.max(0, remaining)) : undefined;
  if (options.signal?.aborted) queueMicrotask(onAbort);
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  return {
    failed,
    release() {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** Native: one ffmpeg/ffprobe process per call, killed with SIGKILL at the deadline. */
function createNativeRunner() {
  const running = new Set();
  let closed = false;
  /** @type {Runner & { close(): Promise<void> }} */
  const run = async (tool, args, files, options) => {
    if (closed) throw shuttingDown();
    const argv = args.map((arg) => (arg === INPUT ? `file:${files.input}` : arg === OUTPUT ? files.output ?? arg : arg));
    const child = spawn(tool, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnvironment() });
    running.add(child);
    const stdout = new BoundedText(8 * 1024 * 1024);
    const stderr = new BoundedText();
    child.stdout.setEncoding('utf8').on('data', (text) => stdout.push(text));
    child.stderr.setEncoding('utf8').on('data', (text) => stderr.push(text));
    const limits = guard(options, () => child.kill('SIGKILL'));
    const exited = new Promise((resolve, reject) => {
      child.on('error', (error) => reject(new MediaError('internal', `could not start ${tool}`, { cause: error })));
      child.on('close', (code, signal) => {
        if (closed && signal) reject(shuttingDown());
        else resolve({ code: code ?? -1, stdout: stdout.toString(), stderr: stderr.toString() });
      });
    });
    try {
      return await Promise.race([exited, limits.failed]);
    } catch (error) {
      // Answer only once the killed process is gone, so a timed-out job holds nothing afterwards.
      await exited.catch(() => {});
      throw error;
    } finally {
      limits.release();
      running.delete(child);
    }
  };
  run.close = async () => {
    closed = true;
    for (const child of running) child.kill('SIGKILL');
  };
  return run;
}

/**
 * WebAssembly: @ffmpeg/core is compiled once here; each call gets a fresh instance in its own
 * worker thread, so that a job never sees the previous one's state, the event loop keeps serving
 * while ffmpeg runs synchronously, a deadline can stop it (`worker.terminate()`), and its memory
 * is returned when it ends. One call runs at a time: the core is single-threaded and a job takes
 * about three times native ffmpeg's memory (bench/ffmpeg-engines.mjs). The core has only an
 * in-memory file system, so the whole input is read into it (bounded by MAX_INPUT_BYTES) and the
 * output is copied out at the end.
 */
async function createWasmRunner() {
  let coreUrl, wasmUrl;
  try {
    coreUrl = import.meta.resolve('@ffmpeg/core');
    wasmUrl = import.meta.resolve('@ffmpeg/core/wasm');
    await stat(new URL(wasmUrl));
  } catch (error) {
    throw new Error('FFMPEG_ENGINE=wasm needs @ffmpeg/core: run `npm ci --prefix containers/ffmpeg`', { cause: error });
  }
  const module = await WebAssembly.compile(await readFile(new URL(wasmUrl)));
  // The core's minified name for Emscripten's stackRestore export (see wasm-job.mjs for why it is needed).
  const stackRestoreExport = /stackRestore=Module\["asm"\]\["(\w+)"\]/.exec(await readFile(new URL(coreUrl), 'utf8'))?.[1];
  if (!stackRestoreExport) throw new Error('this @ffmpeg/core has no stackRestore export: install the pinned version (npm ci --prefix containers/ffmpeg)');
  const workerUrl = new URL('./wasm-job.mjs', import.meta.url);
  const running = new Set();
  let closed = false;
  let queue = Promise.resolve();

  /** @type {Runner & { close(): Promise<void> }} */
  const run = (tool, args, files, options) => {
    const job = queue.then(() => runInWorker(tool, args, files, options));
    queue = job.catch(() => {});
    return job;
  };

  const runInWorker = async (tool, args, files, options) => {
    if (closed) throw shuttingDown();
    if (Date.now() >= (options.deadline ?? Infinity)) throw new MediaError('timeout', 'processing took longer than the time limit');
    if (options.signal?.aborted) throw new MediaError('aborted', 'the request was aborted');
    const argv = args.map((arg) => (arg === INPUT ? 'file:/job/input' : arg === OUTPUT ? '/job/output' : arg));
    const worker = new Worker(workerUrl, { env: childEnvironment(), workerData: { module, coreUrl, stackRestoreExport, tool, args: argv, inputPath: files.input, outputPath: files.output } });
    running.add(worker);
    const limits = guard(options, () => void worker.terminate());
    const finished = new Promise((resolve, reject) => {
      worker.once('message', (message) => {
        if (message.error) reject(new MediaError('internal', `the wasm engine failed: ${message.error}`));
        else resolve(message);
      });
      worker.once('error', (error) => reject(new MediaError('internal', 'the wasm engine failed', { cause: error })));
      worker.once('exit', (code) => reject(closed ? shuttingDown() : new MediaError('internal', `the wasm engine exited (${code})`)));
    });
    try {
      return await Promise.race([finished, limits.failed]);
    } finally {
      limits.release();
      running.delete(worker);
      await worker.terminate();
    }
  };

  run.close = async () => {
    closed = true;
    await Promise.all([...running].map((worker) => worker.terminate()));
  };
  return run;
}
