/** How a transcript's origin reads on screen: an automatic one says so, and how good its engine is. No DOM here. */
import type { Transcript } from './api-types';

/** What the engines are worth saying: the local one is a rough transcript, and the reader should know. */
const ENGINE_LABELS: Record<string, string> = {
  'ffmpeg-pocketsphinx': 'PocketSphinx, low accuracy',
  'workers-ai-whisper-large-v3-turbo': 'Whisper',
};

/** The heading of the detail view's transcript. */
export function transcriptHeading(transcript: Pick<Transcript, 'source' | 'engine'>): string {
  if (transcript.source !== 'automatic') return 'Transcript';
  const engine = transcript.engine ? (ENGINE_LABELS[transcript.engine] ?? transcript.engine) : null;
  return engine ? `Automatic transcript (${engine})` : 'Automatic transcript';
}
