/**
 * One recording: its facts and badges, the player (once processed), download, delete (never under
 * legal hold) and the manage panel. While the recording is being processed the page polls it.
 */
import { ApiError } from './api';
import type { Recording, Transcript } from './api-types';
import { statusBadges } from './badges';
import { h, replace, saveBlob } from './dom';
import { formatBytes, formatDateTime, formatDuration } from './format';
import { managePanel } from './manage-panel';
import { createPlayer, type Player } from './player';
import type { View, ViewContext } from './view';

const POLL_MS = 2_000;

export const recordingView: View = (main, context, [id]) => {
  context.title('Recording');
  const summary = h('section', { class: 'card summary', 'aria-labelledby': 'summary-heading' });
  const processing = h('p', { class: 'notice', role: 'status', hidden: true, 'data-testid': 'processing' });
  const playerSlot = h('div');
  const actions = h('section', { class: 'card', 'aria-labelledby': 'actions-heading' });
  const manageSlot = h('div');
  main.append(h('p', {}, h('a', { href: '#/recordings' }, '← All recordings')), summary, processing, playerSlot, actions, manageSlot);

  let player: Player | null = null;
  let playerKey = '';
  let pollTimer: ReturnType<typeof setTimeout> | null = null;
  let alive = true;
  let transcript: Transcript | null | undefined;
  let shown = '';

  const render = (recording: Recording) => {
    const busy = recording.status === 'recording' || recording.status === 'processing';
    if (busy && alive && pollTimer === null) pollTimer = setTimeout(() => void refresh(), POLL_MS);
    // Polling answers the same recording most of the time: leave the page alone then.
    const signature = JSON.stringify(recording);
    if (signature === shown) return;
    shown = signature;
    context.title(`Call ${recording.callId}`);
    withFocusKept(main, () => {
      renderSummary(summary, recording);
      renderActions(actions, recording, context, () => {
        context.announce('Recording deleted');
        context.navigate('#/recordings');
      });
      replace(manageSlot, managePanel({ api: context.api, session: context.session, recording, changed: render, announce: context.announce }));
    });

    processing.hidden = !busy && recording.status !== 'failed';
    processing.className = recording.status === 'failed' ? 'notice error' : 'notice';
    processing.textContent = busy
      ? recording.status === 'recording'
        ? 'This call is still being recorded. The player appears once it has been processed.'
        : 'Processing: the seekable version is being made. The player appears when it is ready.'
      : recording.status === 'failed'
        ? `Processing failed${recording.failureReason ? `: ${recording.failureReason}` : ''}. The original can still be downloaded.`
        : '';

    const playable = recording.status === 'ready' && recording.storageTier !== 'archive' && context.session.role !== 'auditor';
    const key = playable ? `${recording.id}:${(recording.renditions ?? []).join(',')}` : '';
    if (key !== playerKey) {
      player?.destroy();
      player = null;
      playerKey = key;
      replace(playerSlot);
      if (playable) void mountPlayer(recording, key);
    }
    if (!playable && recording.storageTier === 'archive') replace(playerSlot, h('p', { class: 'notice' }, 'Archived: restore it to listen or download.'));
  };

  const mountPlayer = async (recording: Recording, key: string) => {
    transcript ??= await context.api.transcript(recording.id).catch(() => null);
    if (!alive || playerKey !== key) return;
    player = createPlayer(context.api, recording, transcript, context.announce);
    replace(playerSlot, player.element);
  };

  const refresh = async () => {
    pollTimer = null;
    try {
      const recording = await context.api.getRecording(id!);
      if (alive) render(recording);
    } catch (error) {
      if (!alive) return;
      if (error instanceof ApiError && error.status === 404) {
        replace(summary, h('h2', { id: 'summary-heading' }, 'Not found'), h('p', {}, 'This recording does not exist, or you may not see it.'));
        return;
      }
      context.announce(error instanceof Error ? error.message : String(error), 'error');
      pollTimer = setTimeout(() => void refresh(), POLL_MS * 2);
    }
  };

  void refresh();
  return () => {
    alive = false;
    if (pollTimer) clearTimeout(pollTimer);
    player?.destroy();
  };
};

/** Re-rendering replaces buttons; keep focus on the control with the same data-key. */
function withFocusKept(root: HTMLElement, work: () => void): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && root.contains(active) ? active.dataset.key : undefined;
  work();
  if (key) root.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

function renderSummary(section: HTMLElement, recording: Recording): void {
  const fact = (term: string, value: string | Node, testId?: string) => h('div', {}, h('dt', {}, term), h('dd', testId ? { 'data-testid': testId } : {}, value));
  const gaps = recording.gaps ?? [];
  const pauses = recording.pauses ?? [];
  replace(
    section,
    h('h2', { id: 'summary-heading', class: 'sr-only' }, 'Summary'),
    statusBadges(recording),
    h(
      'dl',
      { class: 'facts' },
      fact('Duration', formatDuration(recording.durationMs), 'duration'),
      fact('Started', formatDateTime(recording.startTime)),
      fact('Ended', formatDateTime(recording.endTime)),
      fact('Caller', recording.callerPhone ?? '—'),
      fact('Receiver', recording.receiverPhone ?? '—'),
      fact('Size', `${formatBytes(recording.size)} · ${recording.format}`),
      fact('Owner', recording.userId),
      fact('Recording id', h('code', {}, recording.id), 'recording-id'),
      gaps.length ? fact('Missing audio', gaps.map((g) => `chunks ${g.fromSequence}–${g.toSequence}`).join(', ')) : null,
      pauses.length ? fact('Paused', pauses.map((p) => `${formatDateTime(p.at)} for ${formatDuration(p.durationMs)}`).join(', ')) : null,
    ),
  );
}

function renderActions(section: HTMLElement, recording: Recording, context: ViewContext, deleted: () => void): void {
  const { session, api } = context;
  const archived = recording.storageTier === 'archive';
  const canHear = session.role !== 'auditor';
  const canDelete = session.role === 'admin' || (session.role === 'user' && recording.userId === session.userId);
  const download = h('button', { type: 'button', 'data-key': 'download', disabled: !canHear || archived || recording.status === 'recording' }, 'Download original');
  download.addEventListener('click', async () => {
    download.disabled = true;
    try {
      const response = await api.download(recording.id);
      const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? `${recording.id}.${recording.format}`;
      saveBlob(await response.blob(), name);
    } catch (error) {
      context.announce(error instanceof Error ? error.message : String(error), 'error');
    } finally {
      download.disabled = false;
    }
  });

  const held = recording.legalHold;
  const remove = h('button', { type: 'button', class: 'danger', 'data-key': 'delete', disabled: held || !canDelete, 'aria-describedby': held ? 'delete-why' : null }, 'Delete recording');
  remove.addEventListener('click', () => void confirmDelete(recording, context, deleted));

  replace(
    section,
    h('h2', { id: 'actions-heading' }, 'Actions'),
    h('div', { class: 'actions' }, download, remove),
    held ? h('p', { class: 'hint', id: 'delete-why' }, 'Delete is disabled: the recording is on legal hold.') : null,
    !canHear ? h('p', { class: 'hint' }, 'Auditors see metadata and the audit trail, never audio.') : null,
  );
}

async function confirmDelete(recording: Recording, context: ViewContext, deleted: () => void): Promise<void> {
  const confirm = h('button', { type: 'button', class: 'danger' }, 'Delete for ever');
  const cancel = h('button', { type: 'button', autofocus: true }, 'Keep it');
  const dialog = h(
    'dialog',
    { 'aria-labelledby': 'delete-title', 'aria-describedby': 'delete-text' },
    h('h2', { id: 'delete-title' }, 'Delete this recording?'),
    h('p', { id: 'delete-text' }, `The audio of call ${recording.callId}, its processed versions and transcript are deleted from storage. This cannot be undone.`),
    h('div', { class: 'actions' }, cancel, confirm),
  );
  document.body.append(dialog);
  dialog.addEventListener('close', () => dialog.remove());
  cancel.addEventListener('click', () => dialog.close());
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try {
      await context.api.deleteRecording(recording.id);
      dialog.close();
      deleted();
    } catch (error) {
      confirm.disabled = false;
      dialog.close();
      context.announce(error instanceof Error ? error.message : String(error), 'error');
    }
  });
  dialog.showModal();
}
