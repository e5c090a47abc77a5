/**
 * Speech-to-text behind one interface, chosen by TRANSCRIPTION_ENGINE: `workers-ai` (production,
 * Whisper through the AI binding) or `ffmpeg` (local, offline and in tests: the FFmpeg server's
 * PocketSphinx `asr` filter). Both answer in the contract's shape; the job
 * (./transcribe-recording.ts) picks one and does the rest.
 */
import type { RecordingRow } from '../db/recordings';
import type { ProcessDeps } from '../media/process-recording';
import type { TranscriptContent } from './content';

export const WHISPER_MODEL = '@cf/openai/whisper-large-v3-turbo';

/** The Workers AI binding, as far as the `workers-ai` engine (./workers-ai.ts) uses it. */
export interface AiBinding {
  run(model: typeof WHISPER_MODEL, input: Ai_Cf_Openai_Whisper_Large_V3_Turbo_Input): Promise<Ai_Cf_Openai_Whisper_Large_V3_Turbo_Output>;
}

export interface TranscriptionDeps extends ProcessDeps {
  /** The Workers AI binding; absent where wrangler.toml has no `[ai]` (then only `ffmpeg` works). */
  ai?: AiBinding;
}

export interface TranscriptionEngine {
  /** What the transcript's `engine` records and the API shows beside it: `ffmpeg-pocketsphinx`, `workers-ai-whisper-large-v3-turbo`. */
  readonly name: string;
  /** Throws PermanentFailure for audio or a setup that will never transcribe, anything else for what may work later. */
  transcribe(deps: TranscriptionDeps, row: RecordingRow, dataKey: Uint8Array): Promise<TranscriptContent>;
}
