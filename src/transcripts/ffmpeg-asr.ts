/**
 * The local engine: the decrypted original goes to the FFmpeg server's POST /transcribe (ffmpeg's
 * `asr` filter, CMU PocketSphinx with Debian's US English model), which answers with timed
 * utterances. Offline and free, and only as good as PocketSphinx: a rough transcript, English only,
 * no speakers, no word times.
 */
import { z } from 'zod';
import { TransientFailure } from '../media/failures';
import { sendOriginal } from '../media/process-recording';
import { textOf, type TranscriptSegment } from './content';
import type { TranscriptionEngine } from './engine';

const Answer = z.object({
  engine: z.string(),
  language: z.string().min(2).max(35),
  utterances: z.array(z.object({ start: z.number().min(0), end: z.number().min(0), text: z.string() })),
});

export const ffmpegAsrEngine: TranscriptionEngine = {
  name: 'ffmpeg-pocketsphinx',
  async transcribe(deps, row, dataKey) {
    const response = await sendOriginal(deps, dataKey, row, '/transcribe');
    const parsed = Answer.safeParse(await response.json().catch(() => null));
    if (!parsed.success) throw new TransientFailure('the media processor gave an unexpected transcription answer');
    const segments: TranscriptSegment[] = parsed.data.utterances
      .filter((u) => u.text.trim() !== '')
      .map((u) => ({ start: u.start, end: Math.max(u.start, u.end), speaker: null, text: u.text.trim() }));
    return { language: parsed.data.language, text: textOf(segments), segments };
  },
};
