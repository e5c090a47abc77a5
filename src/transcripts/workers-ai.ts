/**
 * The production engine: Whisper large-v3-turbo on Workers AI through the `AI` binding. The model
 * takes the whole audio as base64 in one request, so it gets the smallest rendition it documents
 * (`mp3`, 64 kb/s), decrypted in memory, and refuses longer audio than MAX_AUDIO_BYTES (about 52
 * minutes) instead of risking the isolate's 128 MB. Its segments and word times map to the
 * contract's segments; Whisper does not tell speakers apart, so `speaker` is null.
 */
import { listRenditions } from '../db/recordings';
import { bytesToBase64 } from '../encoding';
import { PermanentFailure, TransientFailure, classifyStorageError } from '../media/failures';
import { openRange } from '../recordings/read';
import { textOf, type TranscriptSegment } from './content';
import { WHISPER_MODEL, type TranscriptionEngine } from './engine';

/** 25 MB of MP3 (its base64 is a third larger, and both are in memory at once). */
const MAX_AUDIO_BYTES = 25_000_000;

const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/** Whisper's answer in the contract's shape: segments without times or text are dropped, words kept where timed. */
export function segmentsFromWhisper(output: Ai_Cf_Openai_Whisper_Large_V3_Turbo_Output): TranscriptSegment[] {
  const segments: TranscriptSegment[] = [];
  for (const s of output.segments ?? []) {
    const text = s.text?.trim() ?? '';
    if (!finite(s.start) || !finite(s.end) || text === '') continue;
    const words = (s.words ?? [])
      .filter((w) => finite(w.start) && finite(w.end) && (w.word ?? '').trim() !== '')
      .map((w) => ({ start: w.start!, end: Math.max(w.start!, w.end!), text: w.word!.trim() }));
    segments.push({ start: s.start, end: Math.max(s.start, s.end), speaker: null, text, ...(words.length > 0 ? { words } : {}) });
  }
  return segments;
}

export const workersAiEngine: TranscriptionEngine = {
  name: 'workers-ai-whisper-large-v3-turbo',
  async transcribe(deps, row, dataKey) {
    if (!deps.ai) throw new PermanentFailure('TRANSCRIPTION_ENGINE is workers-ai but the Worker has no AI binding');
    const mp3 = (await listRenditions(deps.db, row.id)).find((r) => r.quality === 'mp3');
    if (!mp3) throw new TransientFailure('the mp3 rendition is not stored yet');
    if (mp3.size > MAX_AUDIO_BYTES) throw new PermanentFailure(`The recording is too long for Workers AI transcription (${mp3.size} bytes of MP3, at most ${MAX_AUDIO_BYTES})`);
    let audio: Uint8Array;
    try {
      const plaintext = await openRange(deps, dataKey, { objectKey: mp3.objectKey, size: mp3.size, context: `${row.id}/mp3` }, 0, mp3.size - 1);
      audio = new Uint8Array(await new Response(plaintext).arrayBuffer());
    } catch (error) {
      throw classifyStorageError(error);
    }
    let output: Ai_Cf_Openai_Whisper_Large_V3_Turbo_Output;
    try {
      output = await deps.ai.run(WHISPER_MODEL, { audio: bytesToBase64(audio), task: 'transcribe', vad_filter: true });
    } catch (error) {
      throw new TransientFailure('Workers AI did not transcribe the audio', { cause: error });
    }
    const segments = segmentsFromWhisper(output);
    const language = output.transcription_info?.language?.trim() || 'und';
    return { language: language.length >= 2 ? language : 'und', text: output.text?.trim() || textOf(segments), segments };
  },
};
