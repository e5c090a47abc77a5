/** Status badges: text first (never colour alone), one per fact that matters at a glance. */
import type { Recording } from './api-types';
import { h } from './dom';

const STATUS_TEXT: Record<Recording['status'], string> = {
  recording: 'Recording',
  processing: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
};

export function statusBadges(recording: Recording): HTMLElement {
  return h(
    'span',
    { class: 'badges' },
    h('span', { class: `badge badge-${recording.status}`, 'data-testid': 'badge-status' }, STATUS_TEXT[recording.status] ?? recording.status),
    recording.storageTier === 'archive' ? h('span', { class: 'badge badge-archived', 'data-testid': 'badge-archived' }, 'Archived') : null,
    recording.legalHold ? h('span', { class: 'badge badge-hold', 'data-testid': 'badge-hold' }, 'Legal hold') : null,
  );
}
