/**
 * The local transcription engine (the FFmpeg server's POST /transcribe: ffmpeg's `asr` filter,
 * PocketSphinx with Debian's en-us model) on a fixed set: ten Harvard sentences (IEEE 1969, the
 * usual public test sentences) spoken by espeak-ng. For each: the word error rate against the
 * sentence, and the realtime factor (wall time of the request ÷ audio duration), with native ffmpeg
 * decoding the same WAV to nothing as the baseline (the ratio says what recognition costs on top
 * of reading the audio). Same sentences, same voice, so the next engine can be compared on the
 * same set. No Debian package found on this machine ships a public-domain speech recording
 * (pocketsphinx-testdata is CMU's, BSD-licensed), so there is none in the set.
 *
 * `node bench/transcription.mjs` prints a markdown table; `run()` returns it.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const SERVER = fileURLToPath(new URL('../containers/ffmpeg/server.mjs', import.meta.url));
const SECRET = 'bench-transcription-secret-0123456789';

export const SENTENCES = [
  'The birch canoe slid on the smooth planks.',
  'Glue the sheet to the dark blue background.',
  'It is easy to tell the depth of a well.',
  'These days a chicken leg is a rare dish.',
  'Rice is often served in round bowls.',
  'The juice of lemons makes fine punch.',
  'The box was thrown beside the parked truck.',
  'The hogs were fed chopped corn and garbage.',
  'Four hours of steady work faced us.',
  'A large size in stockings is hard to sell.',
];

const wordsOf = (text) => text.toLowerCase().match(/[a-z0-9']+/g) ?? [];

/** Word-level edit distance (substitutions + deletions + insertions). */
export function wordErrors(reference, hypothesis) {
  const r = wordsOf(reference);
  const h = wordsOf(hypothesis);
  let previous = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const current = [i];
    for (let j = 1; j <= h.length; j++) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
    previous = current;
  }
  return { errors: previous[h.length], words: r.length };
}

async function startServer() {
  const child = spawn(process.execPath, [SERVER], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, HOST: '127.0.0.1', PORT: '0', FFMPEG_ENGINE: 'native', FFMPEG_SHARED_SECRET: SECRET } });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /"port":(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`the FFmpeg server exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM'))) };
}

const seconds = async (file) => Number((await exec('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file])).stdout);

async function timed(work) {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

export async function run() {
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-transcription-'));
  const server = await startServer();
  const rows = [];
  try {
    for (const [i, sentence] of SENTENCES.entries()) {
      const file = path.join(dir, `s${i}.wav`);
      await exec('espeak-ng', ['-v', 'en', '-s', '140', '-w', file, sentence]);
      const audio = await readFile(file);
      const duration = await seconds(file);
      const decode = await timed(() => exec('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-']));
      const asr = await timed(async () => {
        const res = await fetch(`${server.url}/transcribe`, { method: 'POST', body: audio, headers: { authorization: `Bearer ${SECRET}` } });
        if (!res.ok) throw new Error(`/transcribe answered ${res.status}: ${await res.text()}`);
        return res.json();
      });
      const heard = asr.value.utterances.map((u) => u.text).join(' ');
      rows.push({ sentence, heard, duration, transcribeMs: asr.ms, decodeMs: decode.ms, ...wordErrors(sentence, heard) });
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const total = rows.reduce((t, r) => ({ errors: t.errors + r.errors, words: t.words + r.words, duration: t.duration + r.duration, transcribeMs: t.transcribeMs + r.transcribeMs, decodeMs: t.decodeMs + r.decodeMs }), { errors: 0, words: 0, duration: 0, transcribeMs: 0, decodeMs: 0 });
  const pct = (n) => `${(n * 100).toFixed(0)} %`;
  const line = (r, label) =>
    `| ${label} | ${r.duration.toFixed(2)} | ${pct(r.errors / r.words)} | ${r.transcribeMs.toFixed(0)} | ${(r.transcribeMs / 1000 / r.duration).toFixed(2)} | ${r.decodeMs.toFixed(0)} | ${(r.transcribeMs / r.decodeMs).toFixed(1)}× |`;
  return [
    'Local engine: PocketSphinx (ffmpeg `asr`, Debian en-us model) through POST /transcribe; espeak-ng `-v en -s 140`. WER = word edits ÷ reference words; RTF = request wall time ÷ audio seconds; baseline = native `ffmpeg -i … -f null -` on the same WAV (process start included in both).',
    '',
    '| sentence | audio s | WER | transcribe ms | RTF | decode ms | ÷ decode |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r, i) => line(r, `${i + 1}. ${r.sentence}`)),
    line(total, '**all ten**'),
    '',
    'What it heard:',
    '',
    ...rows.map((r, i) => `${i + 1}. “${r.heard}”`),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await run());
