/** The Record screen: call details, Start/Stop, level meter, elapsed time and upload progress. */
import { append, field, h, replace } from './dom';
import { formatBytes, formatDuration, plural, spokenDuration } from './format';
import { activeRecorder, RecorderSession, type RecorderSnapshot } from './recorder-session';
import type { View } from './view';

const E164 = '\\+[1-9][0-9]{1,14}';

function defaultCallId(): string {
  const now = new Date();
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `web-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

const CONNECTION_TEXT: Record<string, string> = {
  connecting: 'Connecting…',
  open: 'Connected',
  reconnecting: 'Connection lost — reconnecting; audio is kept in this page',
  finished: 'Finished',
  failed: 'Failed',
};

export const recorderView: View = (main, context) => {
  context.title('Record a call');
  const { session } = context;
  const canRecord = session.credentials.kind === 'token' && session.role !== 'auditor';

  const callId = h('input', { name: 'callId', required: true, maxlength: 200, value: defaultCallId(), autocomplete: 'off' });
  const callerPhone = h('input', { name: 'callerPhone', type: 'tel', pattern: E164, placeholder: '+14155550123', autocomplete: 'off' });
  const receiverPhone = h('input', { name: 'receiverPhone', type: 'tel', pattern: E164, placeholder: '+442071838750', autocomplete: 'off' });
  const startButton = h('button', { type: 'submit', class: 'primary' }, 'Start recording');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'call-details-heading' },
    h('h2', { id: 'call-details-heading' }, 'Call details'),
    field('Call id', callId, 'One per call. Starting an unfinished call’s id again resumes it.'),
    h('div', { class: 'row' }, field('Caller phone (optional)', callerPhone, 'E.164, e.g. +14155550123'), field('Receiver phone (optional)', receiverPhone, 'E.164')),
    startButton,
  );

  const panel = h('section', { class: 'card recorder', 'aria-labelledby': 'live-heading', hidden: true });
  append(
    main,
    canRecord
      ? null
      : h(
          'p',
          { class: 'notice warning', role: 'note' },
          session.role === 'auditor'
            ? 'Auditors cannot record calls.'
            : 'Live recording needs a signed-in user token: a browser cannot send an API key on a WebSocket. Sign in with a token to record.',
        ),
    form,
    panel,
  );
  if (!canRecord) for (const control of form.querySelectorAll('input, button')) control.setAttribute('disabled', '');

  let unsubscribe: (() => void) | null = null;
  const attach = (recording: RecorderSession) => {
    form.hidden = true;
    panel.hidden = false;
    unsubscribe?.();
    unsubscribe = recording.subscribe((snapshot) => renderPanel(panel, snapshot, recording, context, reset));
  };
  /** After a failed call: back to the form, with the same details, for another try. */
  const reset = () => {
    unsubscribe?.();
    unsubscribe = null;
    panelParts.delete(panel);
    panel.replaceChildren();
    panel.hidden = true;
    form.hidden = false;
    callId.value = defaultCallId();
    startButton.focus();
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    startButton.disabled = true;
    startButton.textContent = 'Starting…';
    try {
      const recording = await RecorderSession.start(session, {
        callId: callId.value.trim(),
        callerPhone: callerPhone.value.trim() || undefined,
        receiverPhone: receiverPhone.value.trim() || undefined,
      });
      attach(recording);
      context.announce('Recording started');
    } catch (error) {
      const message = error instanceof DOMException && error.name === 'NotAllowedError' ? 'Microphone access was refused. Allow it in the browser’s site settings and try again.' : error instanceof Error ? error.message : String(error);
      context.announce(message, 'error');
    } finally {
      startButton.disabled = false;
      startButton.textContent = 'Start recording';
    }
  });

  const existing = activeRecorder();
  if (existing && (existing.snapshot.phase === 'recording' || existing.snapshot.phase === 'finishing')) attach(existing);
  return () => unsubscribe?.();
};

/** Renders once, then updates the same nodes so focus and screen-reader position survive. */
function renderPanel(panel: HTMLElement, snapshot: RecorderSnapshot, recording: RecorderSession, context: Parameters<View>[1], reset: () => void): void {
  let parts = panelParts.get(panel);
  if (!parts) {
    parts = buildPanel(panel, recording, context, reset);
    panelParts.set(panel, parts);
  }
  const { upload } = snapshot;
  parts.callId.textContent = snapshot.callId;
  parts.elapsed.textContent = formatDuration(snapshot.elapsedMs, false);
  parts.elapsed.dataset.ms = String(Math.round(snapshot.elapsedMs));
  parts.elapsed.setAttribute('aria-label', `Elapsed ${spokenDuration(snapshot.elapsedMs)}`);
  parts.meter.value = snapshot.level;
  parts.meter.textContent = `${Math.round(snapshot.level * 100)}%`;
  parts.meterCover.style.inlineSize = `${100 - Math.round(snapshot.level * 100)}%`;
  parts.acked.textContent = `${upload.acked} of ${upload.sent} sent`;
  const held = upload.produced - upload.acked;
  parts.pending.textContent = `${plural(held, 'chunk')} (${formatBytes(upload.pendingBytes)})`;
  parts.reconnects.textContent = String(upload.reconnects);
  parts.resent.textContent = String(upload.resent);
  const awaitingToken = upload.connection === 'reconnecting' && /waiting for a fresh token/.test(upload.lastError ?? '');
  parts.connection.textContent = awaitingToken
    ? 'Your sign-in expired — sign in again as the same user to go on; the call and its audio are kept'
    : (CONNECTION_TEXT[upload.connection] ?? upload.connection);
  parts.connection.dataset.state = upload.connection;
  parts.phase.textContent = snapshot.phase === 'recording' ? '● Recording' : snapshot.phase === 'finishing' ? 'Finishing upload…' : snapshot.phase === 'done' ? 'Saved' : 'Failed';
  parts.phase.dataset.phase = snapshot.phase;
  parts.stop.disabled = snapshot.phase !== 'recording';
  parts.stop.hidden = snapshot.phase === 'failed';
  parts.again.hidden = snapshot.phase !== 'failed';
  parts.error.hidden = snapshot.error === null;
  const consentHint = snapshot.error?.includes('consent_required') ? ' Turn recording consent on under Privacy to record.' : '';
  parts.error.textContent = snapshot.error ? `Recording stopped: ${snapshot.error}.${consentHint}` : '';
}

interface PanelParts {
  callId: HTMLElement;
  elapsed: HTMLElement;
  meter: HTMLMeterElement;
  meterCover: HTMLElement;
  acked: HTMLElement;
  pending: HTMLElement;
  reconnects: HTMLElement;
  resent: HTMLElement;
  connection: HTMLElement;
  phase: HTMLElement;
  stop: HTMLButtonElement;
  again: HTMLButtonElement;
  error: HTMLElement;
}

const panelParts = new WeakMap<HTMLElement, PanelParts>();

function buildPanel(panel: HTMLElement, recording: RecorderSession, context: Parameters<View>[1], reset: () => void): PanelParts {
  const parts: PanelParts = {
    callId: h('span', { 'data-testid': 'call-id' }),
    elapsed: h('span', { class: 'elapsed', 'data-testid': 'elapsed' }),
    meter: h('meter', { id: 'level-meter', min: 0, max: 1, low: 0.6, high: 0.9, optimum: 0.5, class: 'sr-only' }),
    meterCover: h('span', { class: 'level-cover' }),
    acked: h('span', { 'data-testid': 'acked' }),
    pending: h('span', { 'data-testid': 'pending' }),
    reconnects: h('span', { 'data-testid': 'reconnects' }),
    resent: h('span', { 'data-testid': 'resent' }),
    connection: h('p', { class: 'connection', 'data-testid': 'connection', role: 'status' }),
    phase: h('span', { class: 'phase', 'data-testid': 'phase' }),
    stop: h('button', { type: 'button', class: 'danger' }, 'Stop and save'),
    again: h('button', { type: 'button', class: 'primary', hidden: true, onclick: reset }, 'Back to call details'),
    error: h('p', { class: 'notice error', role: 'alert', hidden: true }),
  };
  parts.stop.addEventListener('click', async () => {
    try {
      const result = await recording.stop();
      context.announce('Recording saved');
      context.navigate(`#/recordings/${result.recordingId}`);
    } catch (error) {
      context.announce(error instanceof Error ? error.message : String(error), 'error');
    }
  });
  replace(
    panel,
    h('h2', { id: 'live-heading' }, 'Live call ', parts.callId),
    h('div', { class: 'live-top' }, parts.phase, parts.elapsed),
    h(
      'div',
      { class: 'level' },
      h('label', { for: 'level-meter' }, 'Input level'),
      parts.meter,
      h('span', { class: 'level-track', 'aria-hidden': 'true' }, parts.meterCover),
    ),
    parts.connection,
    h(
      'dl',
      { class: 'facts' },
      h('div', {}, h('dt', {}, 'Acknowledged'), h('dd', {}, parts.acked)),
      h('div', {}, h('dt', {}, 'Held in page'), h('dd', {}, parts.pending)),
      h('div', {}, h('dt', {}, 'Reconnect attempts'), h('dd', {}, parts.reconnects)),
      h('div', {}, h('dt', {}, 'Chunks resent'), h('dd', {}, parts.resent)),
    ),
    parts.error,
    parts.stop,
    parts.again,
  );
  return parts;
}
