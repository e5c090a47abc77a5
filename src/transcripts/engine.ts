/**
 * Speech-to-text behind one interface, chosen by TRANSCRIPTION_ENGINE: `workers-ai` (production,
 * Whisper through the AI binding) or `ffmpeg` (local, offline and in tests: the FFmpeg server's
 * PocketSphinx `asr` filter). Both answer in the contract's shape; the job does the rest.
 */
import type { RecordingRow } from '../db/recordings';
import type { ProcessDeps } from '../media/process-recording';
import type { TranscriptContent } from './content';
import { ffmpegAsrEngine } from './ffmpeg-asr';
import { workersAiEngine, type AiBinding } from './workers-ai';

export interface TranscriptionDeps extends ProcessDeps {
  /** The Workers AI binding; absent where wrangler.toml has no `[ai]` (then only `ffmpeg` works). */
  ai?: AiBinding;
}

export interface TranscriptionEngine {
  /** What the transcript's `engine` records. */
  readonly name: string;
  /** Throws PermanentFailure for audio or a setup that will never transcribe, anything else for what may work later. */
  transcribe(deps: TranscriptionDeps, row: RecordingRow, dataKey: Uint8Array): Promise<TranscriptContent>;
}

export function transcriptionEngine(choice: 'workers-ai' | 'ffmpeg'): TranscriptionEngine {
  return choice === 'workers-ai' ? workersAiEngine : ffmpegAsrEngine;
}
