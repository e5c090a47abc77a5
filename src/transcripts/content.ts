/** The shape of a transcript inside the service: the contract's, plus word times where an engine gives them. */

/** Seconds from the first sample. */
export interface TranscriptWord {
  start: number;
  end: number;
  text: string;
}

export interface TranscriptSegment {
  start: number;
  end: number;
  speaker: string | null;
  text: string;
  /** Kept sealed with the transcript so that a redaction can remove exactly the words of its span; never in API answers. */
  words?: TranscriptWord[];
}

export interface TranscriptContent {
  language: string;
  text: string;
  segments: TranscriptSegment[];
}

/** The contract's segment: `words` stay inside. */
export function publicSegments(segments: TranscriptSegment[]): Omit<TranscriptSegment, 'words'>[] {
  return segments.map(({ start, end, speaker, text }) => ({ start, end, speaker, text }));
}

/** The transcript's text as the segments say it, one segment after the other. */
export function textOf(segments: TranscriptSegment[]): string {
  return segments
    .map((s) => s.text.trim())
    .filter(Boolean)
    .join(' ');
}
