/**
 * The FFmpeg worker: the HTTP server the Worker calls to probe, transcode and redact audio,
 * through the FfmpegContainer binding in production and by URL (FFMPEG_URL) in dev and tests.
 * Request bodies are raw audio, streamed to a temporary file under a size limit; each request's
 * processing has a time limit; every error is `{"error":{"code","message"}}`.
 *
 * Env: FFMPEG_SHARED_SECRET (required), PORT (8080; 0 picks a free one), HOST (0.0.0.0),
 * FFMPEG_ENGINE (native | wasm | auto: native when ffmpeg is on PATH), MAX_INPUT_BYTES (256 MiB),
 * MAX_SECONDS (600; a request's processing, counted from the moment its body is stored),
 * ASR_MODEL_DIR (the PocketSphinx model /transcribe uses; Debian's pocketsphinx-en-us by default).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PROFILES, redactCommand, spanHasSamples, transcodeCommand } from './commands.mjs';
import { MediaError, createEngine } from './engines.mjs';
import { DEFAULT_MODEL_DIR, modelFiles, readUtterances, transcribeCommand } from './speech.mjs';

const STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unprocessable: 422,
  not_implemented: 501,
  aborted: 499,
  internal: 500,
  service_unavailable: 503,
  timeout: 504,
};

class HttpError extends Error {
  /** @param {keyof typeof STATUS} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** Parse the environment once; a bad setting stops the server before it listens. */
function readSettings(env) {
  const fail = (message) => {
    throw new Error(`containers/ffmpeg: ${message}`);
  };
  const number = (name, fallback, valid) => {
    const value = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
    if (!valid(value)) fail(`${name} is invalid: ${JSON.stringify(env[name])}`);
    return value;
  };
  const secret = env.FFMPEG_SHARED_SECRET ?? '';
  if (secret.length < 16) fail('FFMPEG_SHARED_SECRET must be set, at least 16 characters');
  const engine = env.FFMPEG_ENGINE || 'auto';
  if (!['native', 'wasm', 'auto'].includes(engine)) fail(`FFMPEG_ENGINE must be native, wasm or auto, not ${JSON.stringify(engine)}`);
  return {
    secretDigest: createHash('sha256').update(secret).digest(),
    /** What a log line may say of text that could quote the environment (a diagnostic about a file ffmpeg was made to read). */
    withoutSecret: (text) => text.replaceAll(secret, '[redacted]'),
    engine,
    port: number('PORT', 8080, (n) => Number.isInteger(n) && n >= 0 && n < 65536),
    host: env.HOST || '0.0.0.0',
    maxInputBytes: number('MAX_INPUT_BYTES', 256 * 1024 * 1024, (n) => Number.isInteger(n) && n > 0),
    maxMs: number('MAX_SECONDS', 600, (n) => Number.isFinite(n) && n > 0) * 1000,
    modelDir: env.ASR_MODEL_DIR || DEFAULT_MODEL_DIR,
    asrModel: modelFiles(env.ASR_MODEL_DIR || DEFAULT_MODEL_DIR),
  };
}

/** Digests make both sides 32 bytes, so the comparison's time reveals neither the secret nor its length. */
function isAuthorized(header, secretDigest) {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '';
  return timingSafeEqual(createHash('sha256').update(token).digest(), secretDigest);
}

/** Stream the body to `file`, failing with 413 as soon as it passes `maxBytes`. */
async function receiveBody(req, file, maxBytes) {
  const declared = Number(req.headers['content-length']);
  const tooLarge = () => new HttpError('payload_too_large', `the audio is larger than ${maxBytes} bytes`);
  if (declared > maxBytes) throw tooLarge();
  let received = 0;
  const limit = new Transform({
    transform(chunk, _encoding, callback) {
      received += chunk.length;
      callback(received > maxBytes ? tooLarge() : null, chunk);
    },
  });
  try {
    await pipeline(req, limit, createWriteStream(file));
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError('aborted', 'the request body ended early');
  }
  if (received === 0) throw new HttpError('invalid_request', 'send the audio as the request body');
}

/** A finite millisecond offset from a query parameter. */
function milliseconds(query, name) {
  const raw = query.get(name);
  const value = raw === null || raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new HttpError('invalid_request', `${name} must be a number of milliseconds ≥ 0`);
  return value;
}

/** Each route checks its query (and what the server can do) before the body is accepted, then works on the stored input. */
const ROUTES = {
  '/probe': () => async ({ engine, input, deadline, signal }) => ({ json: await engine.probe(input, { deadline, signal }) }),

  '/transcode': (query) => {
    const profile = query.get('profile') ?? 'high';
    if (!Object.hasOwn(PROFILES, profile)) throw new HttpError('invalid_request', `profile must be one of ${Object.keys(PROFILES).join(', ')}`);
    const denoise = query.get('denoise') ?? '0';
    if (denoise !== '0' && denoise !== '1') throw new HttpError('invalid_request', 'denoise must be 0 or 1');
    return async ({ engine, input, output, deadline, signal }) => {
      const probe = await engine.probe(input, { deadline, signal, countSamples: false });
      const command = transcodeCommand(/** @type {keyof typeof PROFILES} */ (profile), probe, { denoise: denoise === '1' });
      await engine.transcode(input, output, command.args, { deadline, signal });
      return { file: output, contentType: command.contentType };
    };
  },

  '/redact': (query) => {
    const startMs = milliseconds(query, 'startMs');
    const endMs = milliseconds(query, 'endMs');
    if (endMs <= startMs) throw new HttpError('invalid_request', 'endMs must be greater than startMs');
    return async ({ engine, input, output, deadline, signal }) => {
      const probe = await engine.probe(input, { deadline, signal, countSamples: false });
      if (!spanHasSamples(probe, startMs, endMs)) throw new HttpError('invalid_request', 'the span is shorter than one sample');
      const command = redactCommand(probe, startMs, endMs);
      await engine.transcode(input, output, command.args, { deadline, signal });
      return { file: output, contentType: command.contentType };
    };
  },

  '/transcribe': (_query, settings, engine) => {
    const files = settings.asrModel;
    if (engine.name === 'wasm') throw new HttpError('not_implemented', 'the WebAssembly engine cannot transcribe: its FFmpeg is built without the asr filter (PocketSphinx); run the native engine');
    if (!existsSync(files.hmm) || !existsSync(files.dict) || !existsSync(files.lm)) {
      throw new HttpError('not_implemented', `no speech model in ${settings.modelDir}: install pocketsphinx-en-us or set ASR_MODEL_DIR`);
    }
    return async ({ engine, input, deadline, signal }) => {
      const probe = await engine.probe(input, { deadline, signal });
      const printed = await engine.analyze(input, transcribeCommand(files), { deadline, signal });
      const utterances = readUtterances(printed, probe.durationMs / 1000);
      return { json: { engine: 'pocketsphinx', language: 'en', durationMs: probe.durationMs, utterances } };
    };
  },
};

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/**
 * The answer carries only our own message; ffmpeg's diagnostic (`detail`) goes to the log, with
 * the shared secret taken out, because it can quote whatever ffmpeg read.
 */
function sendError(req, res, error, withoutSecret) {
  const known = error instanceof HttpError || error instanceof MediaError;
  const code = known && error.code in STATUS ? error.code : 'internal';
  if (!known || code === 'internal') console.error(JSON.stringify({ level: 'error', path: req.url, message: withoutSecret(String(error?.message ?? error)), cause: withoutSecret(String(error?.cause ?? '')) }));
  else if (error instanceof MediaError && error.detail) console.error(JSON.stringify({ level: 'warn', path: req.url, code, message: error.message, detail: withoutSecret(error.detail) }));
  if (res.headersSent) return void res.destroy();
  if (!req.complete) discardRestOfBody(req, res);
  const headers = code === 'unauthorized' ? { 'www-authenticate': 'Bearer' } : {};
  sendJson(res, STATUS[code], { error: { code, message: code === 'internal' && !known ? 'internal error' : error.message } }, headers);
}

/**
 * Answering before the body is read (401, 413, 400): Node reads and drops the rest so that the
 * client, still sending, gets the answer instead of a reset; closing at once would lose it. A
 * client that keeps sending for longer than this is cut off.
 */
const DISCARD_MS = 10_000;

function discardRestOfBody(req, res) {
  const { socket } = req;
  res.once('finish', () => {
    const timer = setTimeout(() => {
      if (!req.complete) socket?.destroy();
    }, DISCARD_MS);
    timer.unref();
    socket?.once('close', () => clearTimeout(timer));
  });
}

/** @param {ReturnType<typeof readSettings>} settings @param {import('./engines.mjs').Engine} engine */
function createHandler(settings, engine) {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://ffmpeg.worker');
    /** @type {string | undefined} */
    let workDir;
    try {
      if (url.pathname === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError('method_not_allowed', 'use GET');
        return sendJson(res, 200, { ok: true, engine: engine.name });
      }
      const route = Object.hasOwn(ROUTES, url.pathname) ? ROUTES[url.pathname] : undefined;
      if (!route) throw new HttpError('not_found', `no route ${url.pathname}`);
      if (req.method !== 'POST') throw new HttpError('method_not_allowed', 'use POST with the audio as the body');
      if (!isAuthorized(req.headers.authorization, settings.secretDigest)) throw new HttpError('unauthorized', 'a valid Authorization: Bearer secret is required');
      const work = route(url.searchParams, settings, engine);

      workDir = await mkdtemp(path.join(os.tmpdir(), 'ffmpeg-worker-'));
      const input = path.join(workDir, 'input');
      await receiveBody(req, input, settings.maxInputBytes);

      const deadline = Date.now() + settings.maxMs;
      const client = new AbortController();
      res.once('close', () => client.abort());
      const result = await work({ engine, input, output: path.join(workDir, 'output'), deadline, signal: client.signal });
      if ('json' in result) return sendJson(res, 200, result.json);

      // The duration of what is sent, counted from its decoded samples.
      const made = await engine.probe(result.file, { deadline, signal: client.signal });
      const { size } = await stat(result.file);
      res.writeHead(200, { 'content-type': result.contentType, 'content-length': size, 'x-duration-ms': String(made.durationMs), 'cache-control': 'no-store' });
      await pipeline(createReadStream(result.file), res);
    } catch (error) {
      sendError(req, res, error, settings.withoutSecret);
    } finally {
      if (workDir) await rm(workDir, { recursive: true, force: true });
    }
  };
}

async function main() {
  const settings = readSettings(process.env);
  const engine = await createEngine(/** @type {'native' | 'wasm' | 'auto'} */ (settings.engine));
  const handle = createHandler(settings, engine);
  /** Requests in progress: shutdown waits for them to remove their temporary files. */
  const active = new Set();
  const server = http.createServer((req, res) => {
    const handled = handle(req, res);
    active.add(handled);
    void handled.finally(() => active.delete(handled));
  });
  server.listen(settings.port, settings.host, () => {
    const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
    console.log(JSON.stringify({ level: 'info', message: 'listening', host: settings.host, port, engine: engine.name }));
  });
  const stop = async () => {
    server.close();
    await engine.close();
    await Promise.allSettled(active);
    server.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
