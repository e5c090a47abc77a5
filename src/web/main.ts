/**
 * The page's shell: sign-in state, the header, hash routes (`#/record`, `#/recordings`,
 * `#/recordings/<id>`, `#/privacy`), the notice area read by screen readers, and focus moved to
 * each new screen's heading. Hash routes need nothing from the server but the one index.html.
 */
import { Api } from './api';
import { h, replace } from './dom';
import { formatDuration } from './format';
import { privacyView } from './privacy-view';
import { recorderView } from './recorder-view';
import { activeRecorder } from './recorder-session';
import { recordingView } from './recording-view';
import { recordingsView } from './recordings-view';
import { clearSession, loadSession, type Session } from './session';
import { signInView } from './signin-view';
import type { View, ViewContext } from './view';

const ROUTES: [RegExp, View][] = [
  [/^#\/record$/, recorderView],
  [/^#\/recordings$/, recordingsView],
  [/^#\/recordings\/(rec_[0-9A-Za-z]+)$/, recordingView],
  [/^#\/privacy$/, privacyView],
];

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const account = document.getElementById('account') as HTMLElement;
const notices = document.getElementById('notices') as HTMLElement;
const liveIndicator = document.getElementById('live-indicator') as HTMLAnchorElement;

// The skip link must not change the hash: the hash is the route.
document.querySelector('.skip-link')?.addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

let session: Session | null = loadSession();
let cleanup: (() => void) | void;
let signInReason: string | null = null;

function announce(message: string, kind: 'info' | 'error' = 'info'): void {
  const notice = h('p', { class: `toast ${kind}` }, message);
  // Errors interrupt (role=alert); the rest waits its turn in the polite live region.
  notices.append(kind === 'error' ? h('div', { role: 'alert' }, notice) : notice);
  // Three at most: older notices have been read out already.
  while (notices.childElementCount > 3) notices.firstElementChild?.remove();
  setTimeout(() => (notice.parentElement?.getAttribute('role') === 'alert' ? notice.parentElement : notice).remove(), kind === 'error' ? 10_000 : 5_000);
}

function title(text: string): void {
  document.title = `${text} · Call Recorder`;
  const heading = main.querySelector('h1');
  if (heading) heading.textContent = text;
}

function signOut(reason: string | null): void {
  if (activeRecorder()?.snapshot.phase === 'recording' && reason === null && !confirm('A call is being recorded. Sign out and stop it?')) return;
  clearSession();
  session = null;
  signInReason = reason;
  location.hash = '#/signin';
  route();
}

function renderHeader(): void {
  const links = session
    ? [
        ['#/record', 'Record'],
        ['#/recordings', 'Recordings'],
        ['#/privacy', 'Privacy'],
      ]
    : [];
  const current = location.hash.startsWith('#/recordings') ? '#/recordings' : location.hash;
  replace(
    nav,
    ...links.map(([href, label]) => h('a', { href: href!, 'aria-current': current === href ? 'page' : null }, label!)),
  );
  if (!session) return replace(account);
  const signOutButton = h('button', { type: 'button', class: 'link' }, 'Sign out');
  signOutButton.addEventListener('click', () => signOut(null));
  replace(account, h('span', { class: 'who', 'data-testid': 'who' }, `${session.userId} · ${session.role}`), signOutButton);
}

function route(): void {
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  const hash = location.hash || '#/recordings';
  renderHeader();
  const heading = h('h1', { tabindex: -1 });
  replace(main, heading);

  if (!session) {
    title('Sign in');
    signInView(main, {
      reason: signInReason,
      announce,
      signedIn(next) {
        session = next;
        signInReason = null;
        location.hash = next.role === 'auditor' || next.credentials.kind === 'apiKey' ? '#/recordings' : '#/record';
        route();
      },
    });
    heading.focus();
    return;
  }
  const active = session;
  const api = new Api(active, () => signOut('Your session has expired or was refused. Sign in again.'));
  const context: ViewContext = { session: active, api, announce, title, navigate: (next) => (location.hash = next) };
  const match = ROUTES.map(([pattern, view]) => [pattern.exec(hash), view] as const).find(([m]) => m);
  if (!match) {
    location.replace('#/recordings');
    return;
  }
  const [found, view] = match;
  cleanup = view(main, context, found!.slice(1));
  heading.focus({ preventScroll: true });
}

/** The header shows a running call on every screen, linking back to the recorder. */
setInterval(() => {
  const snapshot = activeRecorder()?.snapshot;
  const live = snapshot && (snapshot.phase === 'recording' || snapshot.phase === 'finishing') && location.hash !== '#/record';
  liveIndicator.hidden = !live;
  if (live) liveIndicator.textContent = `● ${snapshot.phase === 'recording' ? 'Recording' : 'Saving'} ${formatDuration(snapshot.elapsedMs, false)}`;
}, 500);

window.addEventListener('beforeunload', (event) => {
  const snapshot = activeRecorder()?.snapshot;
  if (snapshot && (snapshot.phase === 'recording' || snapshot.phase === 'finishing')) event.preventDefault();
});
window.addEventListener('hashchange', route);
route();
