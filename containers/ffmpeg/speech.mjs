/**
 * Speech recognition with ffmpeg's own `asr` filter (CMU PocketSphinx, built into Debian's ffmpeg)
 * for `/transcribe`: the argument list and the reading of what the filter graph prints. PocketSphinx
 * is a small offline recogniser; its output is a rough transcript, nowhere near Whisper's.
 *
 * `asr` only sets `lavfi.asr.text` on the frame where an utterance ends, so the graph also runs
 * `silencedetect` before it: an utterance is taken to start where the silence before it ended and
 * to end where the silence after it started. `asr` never flushes at end of input, so two seconds of
 * silence are appended (`apad`) for the last utterance to end; times are clamped to the audio.
 */

/** Where Debian's pocketsphinx-en-us puts the US English model. */
export const DEFAULT_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';

/** Filter-graph option values cannot hold `:`, `,`, `;`, quotes or `\` unescaped: only plain paths are accepted. */
const PLAIN_PATH = /^\/[\w./-]+$/;

/** @param {string} modelDir */
export function modelFiles(modelDir) {
  if (!PLAIN_PATH.test(modelDir)) throw new Error(`ASR_MODEL_DIR must be an absolute path of letters, digits, '.', '_', '-' and '/', not ${JSON.stringify(modelDir)}`);
  return { hmm: `${modelDir}/en-us`, dict: `${modelDir}/cmudict-en-us.dict`, lm: `${modelDir}/en-us.lm.bin` };
}

/**
 * Arguments after `-i input`: the first audio stream, mono 16 kHz (what the model was trained on),
 * then silence detection, recognition and a print of every frame's metadata to stdout.
 * @param {{ hmm: string, dict: string, lm: string }} files
 */
export function transcribeCommand(files) {
  const graph = [
    'aresample=16000',
    'aformat=sample_fmts=s16:channel_layouts=mono',
    'apad=pad_dur=2',
    'silencedetect=noise=-45dB:duration=0.25',
    `asr=rate=16000:hmm=${files.hmm}:dict=${files.dict}:lm=${files.lm}`,
    'ametadata=mode=print:file=-',
  ].join(',');
  return ['-map', '0:a:0', '-vn', '-sn', '-dn', '-af', graph, '-f', 'null', '-'];
}

/**
 * @typedef {{ start: number, end: number, text: string }} Utterance Seconds from the first sample.
 */

/**
 * Utterances from the `ametadata=mode=print` output: blocks of `frame:N pts:P pts_time:T` followed
 * by `key=value` lines. `asr` reports an utterance some frames after its end, sometimes after the
 * silence that ended it is over, so times are assigned once everything is read: an utterance ends
 * where the last silence that began before its report began, and the next one starts where that
 * silence ended.
 * @param {string} printed
 * @param {number} durationSeconds of the input, without the padding
 * @returns {Utterance[]}
 */
export function readUtterances(printed, durationSeconds) {
  /** @type {{ start: number, end: number }[]} */
  const silences = [];
  /** @type {{ at: number, text: string }[]} */
  const reports = [];
  let frameTime = 0;
  for (const line of printed.split('\n')) {
    const frame = /^frame:\d+\s+pts:\S+\s+pts_time:(\S+)/.exec(line);
    if (frame) {
      if (Number.isFinite(Number(frame[1]))) frameTime = Number(frame[1]);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).trim();
    if (key === 'lavfi.silence_start') silences.push({ start: Number(value), end: Infinity });
    else if (key === 'lavfi.silence_end' && silences.length > 0) silences[silences.length - 1].end = Number(value);
    else if (key === 'lavfi.asr.text' && value !== '') reports.push({ at: frameTime, text: value });
  }
  const clamp = (t) => round(Math.min(durationSeconds, Math.max(0, t)));
  /** @type {Utterance[]} */
  const utterances = [];
  // Leading silence (from the first sample) is not speech.
  let speechFrom = silences[0] && silences[0].start <= 0.05 ? silences[0].end : 0;
  for (const report of reports) {
    const closing = silences.filter((s) => s.start > speechFrom && s.start < report.at).at(-1);
    const end = closing ? closing.start : report.at;
    const start = clamp(Math.min(speechFrom, end));
    utterances.push({ start, end: Math.max(start, clamp(end)), text: report.text });
    speechFrom = closing && Number.isFinite(closing.end) ? closing.end : end;
  }
  return utterances;
}

const round = (seconds) => Math.round(seconds * 1000) / 1000;
