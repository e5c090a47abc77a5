/** The detail view's transcript heading: an automatic transcript says so, and how good its engine is. */
import { describe, expect, it } from 'vitest';
import { transcriptHeading } from '../../src/web/transcript-heading';

describe('transcriptHeading', () => {
  it('labels the local engine’s transcript as automatic and low accuracy, Whisper’s as automatic', () => {
    expect(transcriptHeading({ source: 'automatic', engine: 'ffmpeg-pocketsphinx' })).toBe('Automatic transcript (PocketSphinx, low accuracy)');
    expect(transcriptHeading({ source: 'automatic', engine: 'workers-ai-whisper-large-v3-turbo' })).toBe('Automatic transcript (Whisper)');
  });

  it('names an engine it does not know as it is, and a service’s transcript plainly', () => {
    expect(transcriptHeading({ source: 'automatic', engine: 'some-engine' })).toBe('Automatic transcript (some-engine)');
    expect(transcriptHeading({ source: 'service', engine: null })).toBe('Transcript');
  });
});
