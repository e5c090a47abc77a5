/**
 * The Privacy screen: consent toggles, the GDPR export (a JSON file) and erasure behind a
 * confirmation step that names what will go and what legal holds keep.
 */
import { ApiError } from './api';
import type { Consent, ErasureReport } from './api-types';
import { field, h, replace, saveBlob } from './dom';
import { formatDateTime, plural } from './format';
import type { View, ViewContext } from './view';

const CONFIRM_WORD = 'ERASE';

export const privacyView: View = (main, context) => {
  context.title('Privacy and your data');
  const { session } = context;
  const admin = session.role === 'admin';
  const needsSubject = session.credentials.kind === 'apiKey';
  const subject = h('input', { name: 'subject', autocomplete: 'off', required: needsSubject, placeholder: needsSubject ? 'user id' : session.userId });
  const subjectOf = () => subject.value.trim() || undefined;

  const consentSection = h('section', { class: 'card', 'aria-labelledby': 'consent-heading' });
  const exportSection = h('section', { class: 'card', 'aria-labelledby': 'export-heading' });
  const eraseSection = h('section', { class: 'card', 'aria-labelledby': 'erase-heading' });

  if (admin) {
    const load = h('button', { type: 'button' }, 'Show');
    load.addEventListener('click', () => void loadConsent());
    main.append(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'subject-heading' },
        h('h2', { id: 'subject-heading' }, 'Whose data'),
        field('User id', subject, needsSubject ? 'An API key acts for a user: name one.' : 'Leave empty for yourself; admins may act for any user.'),
        load,
      ),
    );
  }
  main.append(consentSection, exportSection, eraseSection);

  const recording = h('input', { type: 'checkbox', id: 'consent-recording', 'data-testid': 'consent-recording' });
  const transcription = h('input', { type: 'checkbox', id: 'consent-transcription', 'data-testid': 'consent-transcription' });
  const saveConsent = h('button', { type: 'submit', class: 'primary' }, 'Save choices');
  const updated = h('p', { class: 'hint' });
  const consentForm = h(
    'form',
    {},
    h(
      'fieldset',
      {},
      h('legend', {}, 'I agree that'),
      h('div', { class: 'check' }, recording, h('label', { for: 'consent-recording' }, 'my calls are recorded', h('span', { class: 'hint block' }, 'Without it, new recordings and uploads for you are refused.'))),
      h('div', { class: 'check' }, transcription, h('label', { for: 'consent-transcription' }, 'my recordings are transcribed')),
    ),
    saveConsent,
    updated,
  );
  replace(consentSection, h('h2', { id: 'consent-heading' }, 'Consent'), consentForm);

  const showConsent = (state: Consent) => {
    recording.checked = state.consents.recording;
    transcription.checked = state.consents.transcription;
    updated.textContent = state.updatedAt ? `Last changed ${formatDateTime(state.updatedAt)} for ${state.userId}.` : `Defaults for ${state.userId}; never changed.`;
  };
  const loadConsent = async () => {
    if (needsSubject && !subjectOf()) return void (updated.textContent = 'Enter a user id above to see their consent.');
    try {
      showConsent(await context.api.consent(subjectOf()));
    } catch (error) {
      context.announce(describe(error), 'error');
    }
  };
  consentForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    saveConsent.disabled = true;
    try {
      showConsent(await context.api.putConsent({ recording: recording.checked, transcription: transcription.checked }, subjectOf()));
      context.announce('Consent saved');
    } catch (error) {
      context.announce(describe(error), 'error');
    } finally {
      saveConsent.disabled = false;
    }
  });

  const exportButton = h('button', { type: 'button', class: 'primary' }, 'Download my data (JSON)');
  const exportResult = h('p', { role: 'status', class: 'hint' });
  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    exportResult.textContent = 'Preparing the export…';
    try {
      const data = await context.api.exportData(subjectOf());
      const stamp = data.exportedAt.replace(/[:.]/g, '-');
      saveBlob(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }), `gdpr-export-${data.userId}-${stamp}.json`);
      exportResult.textContent = `Exported ${plural(data.recordings.length, 'recording')}, ${plural(data.transcripts.length, 'transcript')} and ${plural(data.auditEvents.length, 'audit event')}. Each recording’s download link expires; download the audio soon.`;
    } catch (error) {
      exportResult.textContent = '';
      context.announce(describe(error), 'error');
    } finally {
      exportButton.disabled = false;
    }
  });
  replace(
    exportSection,
    h('h2', { id: 'export-heading' }, 'Export'),
    h('p', {}, 'Everything held about you: consent, recordings (with time-limited download links), transcripts and the audit events about you.'),
    exportButton,
    exportResult,
  );

  const eraseButton = h('button', { type: 'button', class: 'danger' }, 'Erase my data…');
  const eraseResult = h('div', { 'aria-live': 'polite' });
  eraseButton.addEventListener('click', () => confirmErase(context, subjectOf(), (report) => replace(eraseResult, erasureReport(report))));
  replace(
    eraseSection,
    h('h2', { id: 'erase-heading' }, 'Erase'),
    h('p', {}, 'Deletes your recordings, their processed versions and transcripts, and destroys your encryption key. Recordings on legal hold are kept until the hold is released.'),
    eraseButton,
    eraseResult,
  );

  if (!needsSubject) void loadConsent();
};

function describe(error: unknown): string {
  if (error instanceof ApiError && error.status === 501) return 'This deployment does not offer that yet.';
  return error instanceof Error ? error.message : String(error);
}

function confirmErase(context: ViewContext, subject: string | undefined, done: (report: ErasureReport) => void): void {
  const who = subject ?? context.session.userId;
  const typed = h('input', { id: 'erase-confirm', autocomplete: 'off', 'aria-describedby': 'erase-text' });
  const confirm = h('button', { type: 'button', class: 'danger', disabled: true }, 'Erase everything');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const dialog = h(
    'dialog',
    { 'aria-labelledby': 'erase-title', 'aria-describedby': 'erase-text' },
    h('h2', { id: 'erase-title' }, `Erase all data of ${who}?`),
    h('p', { id: 'erase-text' }, `This cannot be undone. Type ${CONFIRM_WORD} to confirm.`),
    h('div', { class: 'field' }, h('label', { for: 'erase-confirm' }, `Type ${CONFIRM_WORD}`), typed),
    h('div', { class: 'actions' }, cancel, confirm),
  );
  typed.addEventListener('input', () => (confirm.disabled = typed.value.trim() !== CONFIRM_WORD));
  cancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try {
      const report = await context.api.erase(subject);
      dialog.close();
      done(report);
      context.announce(`Erased ${plural(deletedCount(report), 'recording')}`);
    } catch (error) {
      dialog.close();
      context.announce(describe(error), 'error');
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  typed.focus();
}

const deletedCount = (report: ErasureReport) => (Array.isArray(report.deletedRecordings) ? report.deletedRecordings.length : report.deletedRecordings);

function erasureReport(report: ErasureReport): HTMLElement {
  const { verification } = report;
  const check = (ok: boolean | undefined, yes: string, no: string) => (ok === undefined ? null : h('li', {}, ok ? `✓ ${yes}` : `✗ ${no}`));
  return h(
    'div',
    { class: 'notice', 'data-testid': 'erasure-report' },
    h('h3', {}, 'Erasure report'),
    h('p', {}, `Deleted ${plural(deletedCount(report), 'recording')} of ${report.userId}.`),
    h(
      'ul',
      {},
      check(verification.allObjectsGone, 'Every deleted object is gone from storage', 'Some objects are still in storage'),
      verification.keyRetainedReason
        ? h('li', {}, `Encryption key kept: recordings on ${verification.keyRetainedReason.replace('_', ' ')} must stay readable`)
        : check(verification.keyDestroyed, 'Encryption key destroyed: nothing of yours can be decrypted again', 'Encryption key not destroyed'),
    ),
    report.retainedRecordings.length
      ? h('div', {}, h('p', {}, 'Kept:'), h('ul', {}, ...report.retainedRecordings.map((r) => h('li', {}, h('code', {}, r.id), ` — ${r.reason.replace('_', ' ')}`))))
      : null,
    report.outlives?.length
      ? h('div', {}, h('p', {}, 'Outside this erasure’s reach:'), h('ul', {}, ...report.outlives.map((o) => h('li', {}, `${o.what}: ${o.detail}${o.until ? ` (until ${formatDateTime(o.until)})` : ''}`))))
      : null,
    h('details', {}, h('summary', {}, 'Full verification'), h('pre', {}, JSON.stringify(verification, null, 2))),
  );
}
