/**
 * Managing one recording: legal hold (admin), archive/restore (owner or admin), read grants
 * (owner or admin) and the recording's audit trail (admin or auditor). Each control says why it
 * is unavailable instead of disappearing silently.
 */
import type { Api } from './api';
import type { AuditEvent, GrantList, Recording } from './api-types';
import { field, h, replace } from './dom';
import { formatDateTime } from './format';
import type { Session } from './session';

export interface ManageOptions {
  api: Api;
  session: Session;
  recording: Recording;
  /** The recording after a change, to re-render the page. */
  changed(recording: Recording): void;
  announce(message: string, kind?: 'info' | 'error'): void;
}

/** Run an action with its button busy; errors are announced, not thrown. */
async function act(button: HTMLButtonElement, announce: ManageOptions['announce'], work: () => Promise<void>): Promise<void> {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await work();
  } catch (error) {
    announce(error instanceof Error ? error.message : String(error), 'error');
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

export function managePanel(options: ManageOptions): HTMLElement | null {
  const { session, recording } = options;
  const admin = session.role === 'admin';
  const owner = recording.userId === session.userId;
  const canSeeAudit = admin || session.role === 'auditor';
  const canChange = admin || (owner && session.role === 'user');
  if (!canSeeAudit && !canChange) return null;
  return h(
    'section',
    { class: 'card manage', 'aria-labelledby': 'manage-heading' },
    h('h2', { id: 'manage-heading' }, 'Manage'),
    admin ? legalHoldGroup(options) : null,
    canChange ? storageGroup(options) : null,
    canChange ? accessGroup(options) : null,
    canSeeAudit ? auditGroup(options) : null,
  );
}

function legalHoldGroup({ api, recording, changed, announce }: ManageOptions): HTMLElement {
  const group = h('div', { class: 'group', role: 'group', 'aria-labelledby': 'hold-heading' }, h('h3', { id: 'hold-heading' }, 'Legal hold'));
  if (recording.legalHold) {
    const release = h('button', { type: 'button', 'data-key': 'release-hold' }, 'Release legal hold');
    release.addEventListener('click', () =>
      act(release, announce, async () => {
        changed(await api.releaseLegalHold(recording.id));
        announce('Legal hold released');
      }),
    );
    group.append(h('p', {}, 'This recording is on legal hold: nothing can delete it — not a user, not retention, not GDPR erasure.'), release);
  } else {
    const reason = h('input', { name: 'holdReason', maxlength: 1000, autocomplete: 'off', 'data-key': 'hold-reason' });
    const place = h('button', { type: 'button', class: 'primary', 'data-key': 'place-hold' }, 'Place legal hold');
    place.addEventListener('click', () =>
      act(place, announce, async () => {
        changed(await api.placeLegalHold(recording.id, reason.value.trim() || undefined));
        announce('Legal hold placed');
      }),
    );
    group.append(field('Reason (optional)', reason, 'Kept with the hold in its history, e.g. a case number.'), place);
  }
  return group;
}

function storageGroup({ api, recording, changed, announce }: ManageOptions): HTMLElement {
  const archived = recording.storageTier === 'archive';
  // Archiving waits only for a live call to end; processing still running finishes into the archive.
  const busy = recording.status === 'recording';
  const button = h('button', { type: 'button', 'data-key': 'tier', disabled: busy }, archived ? 'Restore from archive' : 'Move to archive');
  button.addEventListener('click', () =>
    act(button, announce, async () => {
      const updated = archived ? await api.restore(recording.id) : await api.archive(recording.id);
      changed(updated);
      announce(archived ? (updated.storageTier === 'archive' ? 'Restore started: the provider is bringing it back' : 'Restored') : 'Archived');
    }),
  );
  return h(
    'div',
    { class: 'group', role: 'group', 'aria-labelledby': 'tier-heading' },
    h('h3', { id: 'tier-heading' }, 'Storage'),
    h('p', {}, `Storage tier: ${recording.storageTier}.`, archived ? ' While archived it cannot be played or downloaded.' : ''),
    button,
    busy ? h('p', { class: 'hint' }, 'Available once the call has ended.') : null,
  );
}

function accessGroup({ api, recording, announce }: ManageOptions): HTMLElement {
  const userId = h('input', { name: 'grantUserId', required: true, maxlength: 256, autocomplete: 'off', 'data-key': 'grant-user' });
  const grant = h('button', { type: 'button', 'data-key': 'grant' }, 'Grant read access');
  const revoke = h('button', { type: 'button', 'data-key': 'revoke' }, 'Revoke');
  const list = h('ul', { class: 'grants', 'aria-live': 'polite' });
  const show = (grants: GrantList | undefined) => {
    if (!grants) return replace(list);
    replace(
      list,
      grants.grants.length === 0
        ? h('li', {}, 'No one else can read this recording.')
        : grants.grants.map((g) => h('li', {}, `${g.userId} — read, granted by ${g.grantedBy} on ${formatDateTime(g.grantedAt)}`)),
    );
  };
  void api.grants(recording.id).then(show, () => undefined);
  const change = (button: HTMLButtonElement, work: (user: string) => Promise<GrantList>, done: string) =>
    act(button, announce, async () => {
      const user = userId.value.trim();
      if (!user) {
        userId.focus();
        throw new Error('Enter the user id first');
      }
      show(await work(user));
      announce(`${done} ${user}`);
    });
  grant.addEventListener('click', () => change(grant, (user) => api.grant(recording.id, user), 'Read access granted to'));
  revoke.addEventListener('click', () => change(revoke, (user) => api.revoke(recording.id, user), 'Read access revoked for'));
  return h(
    'div',
    { class: 'group', role: 'group', 'aria-labelledby': 'access-heading' },
    h('h3', { id: 'access-heading' }, 'Who else can listen'),
    field('User id', userId),
    h('div', { class: 'actions' }, grant, revoke),
    list,
  );
}

const AUDIT_PAGE = 20;

function auditGroup({ api, recording, announce }: ManageOptions): HTMLElement {
  const body = h('div', { class: 'audit', 'aria-busy': 'true' }, h('p', {}, 'Loading the audit trail…'));
  const refresh = h('button', { type: 'button', 'data-key': 'audit-refresh' }, 'Refresh');
  const older = h('button', { type: 'button', 'data-key': 'audit-older', hidden: true }, 'Show older events');
  let events: AuditEvent[] = [];
  let cursor: string | null = null;
  const load = (button: HTMLButtonElement, more: boolean) =>
    act(button, announce, async () => {
      body.setAttribute('aria-busy', 'true');
      const page = await api.audit({ recordingId: recording.id, limit: AUDIT_PAGE, cursor: more ? (cursor ?? undefined) : undefined });
      events = more ? [...events, ...page.items] : page.items;
      cursor = page.nextCursor;
      body.setAttribute('aria-busy', 'false');
      replace(body, auditTable(events));
      older.hidden = cursor === null;
    });
  refresh.addEventListener('click', () => void load(refresh, false));
  older.addEventListener('click', () => void load(older, true));
  void load(refresh, false);
  return h('div', { class: 'group', role: 'group', 'aria-labelledby': 'audit-heading' }, h('h3', { id: 'audit-heading' }, 'Audit trail'), refresh, body, older);
}

function auditTable(events: AuditEvent[]): HTMLElement {
  if (events.length === 0) return h('p', {}, 'No events.');
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'audit-table stack', 'data-testid': 'audit-table' },
      h('caption', { class: 'sr-only' }, 'Audit events for this recording, newest first'),
      h('thead', {}, h('tr', {}, ...['When', 'Who', 'Action', 'Outcome'].map((label) => h('th', { scope: 'col' }, label)))),
      h(
        'tbody',
        {},
        ...events.map((event) =>
          h(
            'tr',
            {},
            h('td', { 'data-label': 'When' }, formatDateTime(event.at)),
            h('td', { 'data-label': 'Who' }, event.actor),
            h('td', { 'data-label': 'Action' }, event.action),
            h('td', { 'data-label': 'Outcome' }, h('span', { class: `outcome outcome-${event.outcome}` }, event.outcome)),
          ),
        ),
      ),
    ),
  );
}
