/** The transcript, its segments as buttons that seek, the one being spoken highlighted. */
import type { Transcript, TranscriptSegment } from './api-types';
import { h } from './dom';
import { formatDuration } from './format';

/** Index of the segment playing at `seconds`, or -1 between segments. Segments are sorted by start. */
export function activeSegmentIndex(segments: readonly TranscriptSegment[], seconds: number): number {
  let low = 0;
  let high = segments.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const segment = segments[middle]!;
    if (seconds < segment.start) high = middle - 1;
    else if (seconds >= segment.end) low = middle + 1;
    else return middle;
  }
  return -1;
}

export interface TranscriptPanel {
  element: HTMLElement;
  /** Highlight the segment at `seconds`. */
  update(seconds: number): void;
}

export function transcriptPanel(transcript: Transcript, seek: (seconds: number) => void): TranscriptPanel {
  const segments = [...transcript.segments].sort((a, b) => a.start - b.start);
  const items = segments.map((segment) =>
    h(
      'li',
      {},
      h(
        'button',
        { type: 'button', class: 'segment', onclick: () => seek(segment.start) },
        h('span', { class: 'segment-time' }, formatDuration(segment.start * 1000, false)),
        segment.speaker ? h('span', { class: 'segment-speaker' }, `${segment.speaker}:`) : null,
        h('span', { class: 'segment-text' }, segment.text),
      ),
    ),
  );
  const list = h('ol', { class: 'transcript', 'aria-label': `Transcript (${transcript.language})` }, ...items);
  let current = -1;
  return {
    element: segments.length > 0 ? list : h('p', { class: 'transcript-text' }, transcript.text),
    update(seconds) {
      const index = activeSegmentIndex(segments, seconds);
      if (index === current) return;
      items[current]?.querySelector('button')?.removeAttribute('aria-current');
      items[current]?.classList.remove('active');
      current = index;
      const item = items[index];
      if (!item) return;
      item.classList.add('active');
      item.querySelector('button')?.setAttribute('aria-current', 'time');
      // Follow the speech inside the list only; never move the page under the reader's focus.
      const top = item.offsetTop - list.offsetTop;
      if (top < list.scrollTop || top + item.offsetHeight > list.scrollTop + list.clientHeight) list.scrollTo({ top: top - list.clientHeight / 3, behavior: 'smooth' });
    },
  };
}
