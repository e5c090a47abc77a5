/**
 * The `transcribe` job's work for one recording: once it is `ready`, and while its owner consents
 * to transcription, the configured engine hears the original and the transcript is stored
 * (sealed, indexed) as `automatic`. Idempotent: a transcript a service PUT is never replaced, and
 * an automatic one already made from the current original is not made again; a redaction points
 * the recording at a new original, which is what makes the next job transcribe again. While the
 * recording is archived (or a restore is pending) the job is deferred, as the media job is: the
 * original may not be readable in the archive class, and the restore queues the work again.
 */
import type { RecordingRow } from '../db/recordings';
import { classifyStorageError } from '../media/failures';
import { dataKeyFor } from '../recordings/read';
import type { TranscriptContent } from './content';
import { transcriptionNotDue, type NotDue } from './due';
import type { TranscriptionDeps, TranscriptionEngine } from './engine';
import { ffmpegAsrEngine } from './ffmpeg-asr';
import { saveTranscript } from './store';
import { workersAiEngine } from './workers-ai';

export type TranscribeOutcome =
  | { stored: true; engine: string; content: TranscriptContent }
  | { stored: false; reason: NotDue | 'superseded' };

function transcriptionEngine(choice: 'workers-ai' | 'ffmpeg'): TranscriptionEngine {
  return choice === 'workers-ai' ? workersAiEngine : ffmpegAsrEngine;
}

export async function transcribeRecording(deps: TranscriptionDeps, row: RecordingRow): Promise<TranscribeOutcome> {
  const notDue = await transcriptionNotDue(deps.db, row);
  if (notDue) return { stored: false, reason: notDue };
  let dataKey: Uint8Array;
  try {
    dataKey = await dataKeyFor(deps, row);
  } catch (error) {
    throw classifyStorageError(error);
  }
  const engine = transcriptionEngine(deps.config.TRANSCRIPTION_ENGINE);
  const content = await engine.transcribe(deps, row, dataKey);
  const stored = await saveTranscript(deps, row, content, { source: 'automatic', engine: engine.name, audioObjectKey: row.objectKey! });
  return stored ? { stored: true, engine: engine.name, content } : { stored: false, reason: 'superseded' };
}
