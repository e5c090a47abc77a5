/** The Recordings screen: a transcript search box, filters (call id, phone, status, from/to), newest first, cursor paging. */
import type { Recording } from './api-types';
import type { RecordingFilters } from './api';
import { statusBadges } from './badges';
import { field, h, replace } from './dom';
import { formatBytes, formatDateTime, formatDuration } from './format';
import type { View } from './view';

const PAGE_SIZE = 20;
/** While a listed recording is still changing (a live call's size grows, processing ends), the page is re-read this often. */
const REFRESH_MS = 5_000;
const changing = (recording: Recording) => recording.status === 'recording' || recording.status === 'processing';

/** `datetime-local` has no zone: read it as local time and send ISO-8601 with an offset. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export const recordingsView: View = (main, context) => {
  context.title('Recordings');
  const callId = h('input', { name: 'callId', autocomplete: 'off' });
  const phone = h('input', { name: 'phone', type: 'tel', pattern: '\\+[1-9][0-9]{1,14}', placeholder: '+14155550123', autocomplete: 'off' });
  const status = h(
    'select',
    { name: 'status' },
    h('option', { value: '' }, 'Any'),
    ...['recording', 'processing', 'ready', 'failed'].map((s) => h('option', { value: s }, s[0]!.toUpperCase() + s.slice(1))),
  );
  const from = h('input', { name: 'from', type: 'datetime-local' });
  const to = h('input', { name: 'to', type: 'datetime-local' });
  const filterForm = h(
    'form',
    { role: 'search', 'aria-label': 'Filter recordings' },
    h(
      'div',
      { class: 'filter-grid' },
      field('Call id', callId),
      field('Phone', phone),
      field('Status', status),
      field('Started from', from),
      field('Started before', to),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Apply filters'), h('button', { type: 'reset' }, 'Clear')),
  );
  // Search is its own form, always in view: the words a caller remembers are the usual way back to a call.
  const query = h('input', { name: 'q', type: 'search', maxlength: '200', autocomplete: 'off', placeholder: 'Words said in the call' });
  const searchForm = h(
    'form',
    { role: 'search', 'aria-label': 'Search transcripts', class: 'card transcript-search' },
    field('Search transcripts', query),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Search')),
  );
  // Open on wide screens; on a phone the results come first and the filters fold away.
  const summary = h('summary', {}, 'Filters');
  const filterPanel = h('details', { class: 'card filters', open: !matchMedia('(max-width: 40rem)').matches }, summary, filterForm);
  const results = h('section', { 'aria-labelledby': 'results-heading', 'aria-busy': 'false' });
  main.append(searchForm, filterPanel, results);

  let filters: RecordingFilters = {};
  /** Cursors of the pages before the current one; the current page's cursor is the last. */
  const cursors: (string | undefined)[] = [undefined];
  let alive = true;
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** Only the newest load may render: a refresh still in flight when the filters change is dropped. */
  let generation = 0;
  /** Ids of the rows shown, in order: a refresh that finds the same rows updates their cells in place (focus stays). */
  let shown: string[] = [];

  /** `refresh`: a background re-read of the same page, silent unless the rows themselves changed. */
  const load = async (refresh = false) => {
    clearTimeout(refreshTimer);
    const mine = ++generation;
    if (!refresh) results.setAttribute('aria-busy', 'true');
    try {
      const page = await context.api.listRecordings({ ...filters, limit: PAGE_SIZE, cursor: cursors[cursors.length - 1] });
      if (!alive || mine !== generation) return;
      const ids = page.items.map((recording) => recording.id);
      if (refresh && ids.join() === shown.join()) updateRows(page.items);
      else renderResults(page.items, page.nextCursor);
      shown = ids;
      if (page.items.some(changing)) refreshTimer = setTimeout(() => void load(true), REFRESH_MS);
    } catch (error) {
      if (!alive || mine !== generation) return;
      // A failed background refresh keeps the rows on screen and tries again; a failed load says why.
      if (refresh) refreshTimer = setTimeout(() => void load(true), REFRESH_MS);
      else replace(results, h('h2', { id: 'results-heading' }, 'Results'), h('p', { class: 'notice error', role: 'alert' }, error instanceof Error ? error.message : String(error)));
    } finally {
      if (!refresh && mine === generation) results.setAttribute('aria-busy', 'false');
    }
  };

  /** Duration, size and status of rows already shown, replaced cell by cell. */
  const updateRows = (items: Recording[]) => {
    for (const recording of items) {
      const current = results.querySelector(`tr[data-recording-id="${recording.id}"]`);
      if (!current) continue;
      const fresh = row(recording);
      for (const label of ['Duration', 'Size', 'Status']) {
        const cell = current.querySelector(`td[data-label="${label}"]`);
        const replacement = fresh.querySelector(`td[data-label="${label}"]`);
        if (cell && replacement) cell.replaceChildren(...replacement.childNodes);
      }
    }
  };

  const renderResults = (items: Recording[], nextCursor: string | null) => {
    const pageNumber = cursors.length;
    const previous = h('button', { type: 'button', disabled: pageNumber === 1 }, '← Newer');
    const next = h('button', { type: 'button', disabled: nextCursor === null }, 'Older →');
    previous.addEventListener('click', () => {
      cursors.pop();
      void load();
    });
    next.addEventListener('click', () => {
      if (nextCursor === null) return;
      cursors.push(nextCursor);
      void load();
    });
    replace(
      results,
      h('h2', { id: 'results-heading' }, `Results`, h('span', { class: 'muted' }, ` · page ${pageNumber}`)),
      items.length === 0
        ? h('p', { class: 'empty' }, filters.q ? `No recordings whose transcript contains “${filters.q}” match these filters.` : 'No recordings match these filters.')
        : h(
            'table',
            { class: 'recordings stack' },
            h('caption', { class: 'sr-only' }, `Recordings, newest first, page ${pageNumber}`),
            h('thead', {}, h('tr', {}, ...['Started', 'Call', 'Phones', 'Duration', 'Size', 'Status'].map((label) => h('th', { scope: 'col' }, label)))),
            h('tbody', {}, ...items.map(row)),
          ),
      pageNumber > 1 || nextCursor !== null ? h('nav', { class: 'pager', 'aria-label': 'Pages' }, previous, next) : null,
    );
  };

  const row = (recording: Recording) =>
    h(
      'tr',
      { 'data-recording-id': recording.id },
      h('td', { 'data-label': 'Started' }, formatDateTime(recording.startTime)),
      h('td', { 'data-label': 'Call' }, h('a', { href: `#/recordings/${recording.id}` }, recording.callId)),
      h('td', { 'data-label': 'Phones' }, [recording.callerPhone, recording.receiverPhone].filter(Boolean).join(' → ') || '—'),
      h('td', { 'data-label': 'Duration' }, formatDuration(recording.durationMs)),
      h('td', { 'data-label': 'Size' }, formatBytes(recording.size)),
      h('td', { 'data-label': 'Status' }, statusBadges(recording)),
    );

  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!filterForm.reportValidity()) return;
    filters = { q: filters.q, callId: callId.value.trim(), phone: phone.value.trim(), status: status.value, from: toIso(from.value), to: toIso(to.value) };
    const active = Object.entries(filters).filter(([name, value]) => name !== 'q' && value).length;
    summary.textContent = active ? `Filters (${active} active)` : 'Filters';
    cursors.splice(0, cursors.length, undefined);
    void load();
  });
  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    filters = { ...filters, q: query.value.trim() || undefined };
    cursors.splice(0, cursors.length, undefined);
    void load();
  });
  filterForm.addEventListener('reset', () => {
    filters = { q: filters.q };
    summary.textContent = 'Filters';
    cursors.splice(0, cursors.length, undefined);
    setTimeout(() => void load());
  });

  void load();
  return () => {
    alive = false;
    clearTimeout(refreshTimer);
  };
};
