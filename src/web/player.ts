/**
 * The player. A raw MediaRecorder WebM has no duration in its header, so the page plays the
 * transcoded `high` rendition through a signed playback URL: the <audio> element then knows the
 * length, and seeks with Range requests without credentials. The length shown is the
 * Recording's `durationMs` (measured by the service when it processed the audio).
 */
import type { Api } from './api';
import type { Recording, Transcript } from './api-types';
import { h } from './dom';
import { formatDuration, spokenDuration } from './format';
import { transcriptPanel } from './transcript';
import { transcriptHeading } from './transcript-heading';
import { decodePeaks, drawWaveform } from './waveform';

const SKIP_SECONDS = 5;

export interface Player {
  element: HTMLElement;
  destroy(): void;
}

export function createPlayer(api: Api, recording: Recording, transcript: Transcript | null, announce: (message: string, kind?: 'info' | 'error') => void): Player {
  const quality = recording.renditions?.includes('high') ? 'high' : 'original';
  const totalSeconds = recording.durationMs !== null ? recording.durationMs / 1000 : null;
  // No native controls: the ones below show the true duration and work the same in every browser.
  const audio = h('audio', { preload: 'metadata', 'data-testid': 'audio' });
  const play = h('button', { type: 'button', class: 'primary', 'aria-label': 'Play' }, '▶ Play');
  // The visible text is the accessible name (WCAG 2.5.3): what a voice-control user reads is what they say.
  const back = h('button', { type: 'button' }, `Back ${SKIP_SECONDS} s`);
  const forward = h('button', { type: 'button' }, `Forward ${SKIP_SECONDS} s`);
  const position = h('input', { type: 'range', id: 'position', min: 0, max: totalSeconds ?? 0, step: 0.1, value: 0, 'data-testid': 'position' });
  const time = h('span', { class: 'time', 'data-testid': 'time' });
  const speed = h('select', { id: 'speed' }, ...[1, 1.25, 1.5, 2].map((rate) => h('option', { value: rate }, `${rate}×`)));
  const canvas = h('canvas', { class: 'waveform', role: 'img', 'aria-label': 'Waveform: loading', 'data-testid': 'waveform' });
  const waveNote = h('p', { class: 'hint' }, 'Waveform drawn in your browser from the low-quality version. Click it to seek.');
  const source = h('p', { class: 'hint', 'data-testid': 'player-source' });
  const transcriptView = transcript ? transcriptPanel(transcript, (seconds) => seekTo(seconds)) : null;

  const duration = () => totalSeconds ?? (Number.isFinite(audio.duration) ? audio.duration : 0);
  let peaks: Float32Array | null = null;
  let destroyed = false;
  let urlExpiresAt = 0;

  const render = () => {
    const total = duration();
    const current = Math.min(audio.currentTime, total || audio.currentTime);
    position.max = String(total);
    if (document.activeElement !== position || !position.matches(':active')) position.value = String(current);
    const text = `${formatDuration(current * 1000)} / ${formatDuration(total * 1000)}`;
    time.textContent = text;
    position.setAttribute('aria-valuetext', `${spokenDuration(current * 1000)} of ${spokenDuration(total * 1000)}`);
    play.textContent = audio.paused ? '▶ Play' : '❚❚ Pause';
    play.setAttribute('aria-label', audio.paused ? 'Play' : 'Pause');
    if (peaks) drawWaveform(canvas, peaks, total > 0 ? current / total : 0);
    transcriptView?.update(current);
  };

  function seekTo(seconds: number): void {
    const total = duration();
    audio.currentTime = Math.max(0, total > 0 ? Math.min(seconds, total) : seconds);
    render();
  }

  /** A signed URL plays without credentials; a fresh one is fetched when it is about to expire. */
  const loadSource = async (resumeAt = 0) => {
    const signed = await api.playbackUrl(recording.id, quality);
    if (destroyed) return;
    urlExpiresAt = Date.parse(signed.expiresAt);
    const wasPlaying = !audio.paused;
    audio.src = signed.url;
    if (resumeAt > 0) audio.currentTime = resumeAt;
    if (wasPlaying) await audio.play();
  };

  play.addEventListener('click', () => {
    if (audio.paused) void audio.play().catch((error: unknown) => announce(`Cannot play: ${error instanceof Error ? error.message : String(error)}`, 'error'));
    else audio.pause();
  });
  back.addEventListener('click', () => seekTo(audio.currentTime - SKIP_SECONDS));
  forward.addEventListener('click', () => seekTo(audio.currentTime + SKIP_SECONDS));
  position.addEventListener('input', () => seekTo(Number(position.value)));
  speed.addEventListener('change', () => (audio.playbackRate = Number(speed.value)));
  canvas.addEventListener('click', (event) => {
    const box = canvas.getBoundingClientRect();
    seekTo(((event.clientX - box.left) / box.width) * duration());
  });
  for (const name of ['timeupdate', 'play', 'pause', 'seeked', 'loadedmetadata', 'durationchange', 'ended']) audio.addEventListener(name, render);
  audio.addEventListener('error', () => {
    // An expired link answers 403: get a new one and carry on from the same place.
    if (Date.now() > urlExpiresAt - 5_000) void loadSource(audio.currentTime).catch(() => undefined);
    else announce('The audio could not be played in this browser.', 'error');
  });
  const resize = new ResizeObserver(render);
  resize.observe(canvas);

  source.textContent =
    quality === 'high'
      ? `Playing the processed version (${formatDuration(recording.durationMs)} long, seekable).`
      : 'Playing the original: it has not been processed, so the browser may not know its length.';

  void loadSource().catch((error: unknown) => announce(`Cannot load the audio: ${error instanceof Error ? error.message : String(error)}`, 'error'));
  void loadWaveform();

  async function loadWaveform() {
    const waveQuality = recording.renditions?.includes('low') ? 'low' : quality;
    try {
      const response = await api.stream(recording.id, waveQuality);
      const decoded = await decodePeaks(await response.arrayBuffer());
      if (destroyed) return;
      peaks = decoded;
      canvas.setAttribute('aria-label', `Waveform of the recording, ${spokenDuration(duration() * 1000)} long`);
      canvas.dataset.ready = 'true';
      render();
    } catch (error) {
      canvas.setAttribute('aria-label', 'Waveform unavailable');
      waveNote.textContent = `No waveform: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  render();
  const element = h(
    'section',
    { class: 'card player', 'aria-labelledby': 'player-heading' },
    h('h2', { id: 'player-heading' }, 'Listen'),
    canvas,
    waveNote,
    h('div', { class: 'transport' }, play, back, forward, time),
    h('div', { class: 'field' }, h('label', { for: 'position' }, 'Position'), position),
    h('div', { class: 'field inline' }, h('label', { for: 'speed' }, 'Speed'), speed),
    audio,
    source,
    transcript && transcriptView
      ? h('section', { class: 'transcript-section', 'aria-labelledby': 'transcript-heading' }, h('h3', { id: 'transcript-heading' }, transcriptHeading(transcript)), transcriptView.element)
      : h('p', { class: 'hint' }, 'No transcript for this recording.'),
  );
  return {
    element,
    destroy() {
      destroyed = true;
      resize.disconnect();
      audio.pause();
      audio.removeAttribute('src');
      audio.load();
    },
  };
}
