/**
 * Sign in: paste a token (JWT) issued by your identity provider. In local mode only, a developer
 * may also mint a token in the page from the JWT secret, or use an API key.
 */
import { Api, ApiError } from './api';
import { append, field, h } from './dom';
import { isLocalMode, mintDevToken, saveSession, sessionFromApiKey, sessionFromToken, type Session } from './session';
import type { Role } from './api-types';

export interface SignInOptions {
  reason: string | null;
  signedIn(session: Session): void;
  announce(message: string, kind?: 'info' | 'error'): void;
}

/** A cheap authenticated call: 401 means the credential is not accepted. */
async function check(session: Session): Promise<void> {
  try {
    await new Api(session, () => undefined).listRecordings({ limit: 1 });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw new Error('The service did not accept that credential');
    throw error;
  }
}

function errorSlot(): HTMLParagraphElement {
  return h('p', { class: 'notice error', role: 'alert', hidden: true });
}

function onSubmit(form: HTMLFormElement, error: HTMLParagraphElement, make: () => Promise<Session>, options: SignInOptions): void {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    const button = form.querySelector('button[type="submit"]') as HTMLButtonElement;
    button.disabled = true;
    try {
      const session = await make();
      await check(session);
      saveSession(session);
      options.signedIn(session);
    } catch (failure) {
      error.textContent = failure instanceof Error ? failure.message : String(failure);
      error.hidden = false;
      (form.querySelector('input, textarea') as HTMLElement | null)?.focus();
    } finally {
      button.disabled = false;
    }
  });
}

export function signInView(main: HTMLElement, options: SignInOptions): void {
  const token = h('textarea', { name: 'token', rows: 4, required: true, spellcheck: 'false', autocomplete: 'off', class: 'mono' });
  const tokenError = errorSlot();
  const tokenForm = h(
    'form',
    { class: 'card', 'aria-labelledby': 'token-heading' },
    h('h2', { id: 'token-heading' }, 'Sign in with a token'),
    field('Access token (JWT)', token, 'Kept in this tab only, until you sign out or close it.'),
    tokenError,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  onSubmit(tokenForm, tokenError, async () => sessionFromToken(token.value), options);

  append(main, options.reason ? h('p', { class: 'notice warning', role: 'alert' }, options.reason) : null, tokenForm);
  if (!isLocalMode()) return;

  const userId = h('input', { name: 'userId', required: true, value: 'dev-user', autocomplete: 'off', maxlength: 256 });
  const role = h('select', { name: 'role' }, ...(['user', 'admin', 'auditor'] as const).map((r) => h('option', { value: r }, r)));
  const secret = h('input', { name: 'jwtSecret', type: 'password', required: true, autocomplete: 'off' });
  const devError = errorSlot();
  const devForm = h(
    'form',
    { class: 'card dev', 'aria-labelledby': 'dev-heading' },
    h('h2', { id: 'dev-heading' }, 'Developer sign-in ', h('span', { class: 'badge badge-local' }, 'local only')),
    h('p', {}, 'Signs a one-hour token in this page with the service’s JWT secret (the development default is printed in the README). The secret is not stored or sent anywhere.'),
    h('div', { class: 'row' }, field('User id', userId), field('Role', role)),
    field('JWT secret', secret),
    devError,
    h('button', { type: 'submit' }, 'Sign in as developer'),
  );
  onSubmit(devForm, devError, async () => sessionFromToken(await mintDevToken(secret.value, userId.value.trim(), role.value as Role, 3600)), options);

  const apiKey = h('input', { name: 'apiKey', type: 'password', required: true, autocomplete: 'off' });
  const keyError = errorSlot();
  const keyForm = h(
    'form',
    { class: 'card dev', 'aria-labelledby': 'key-heading' },
    h('h2', { id: 'key-heading' }, 'Use an API key ', h('span', { class: 'badge badge-local' }, 'local only')),
    h('p', {}, 'A service key browses and manages everything, but cannot record: a browser cannot send it on a WebSocket.'),
    field('API key', apiKey),
    keyError,
    h('button', { type: 'submit' }, 'Use API key'),
  );
  onSubmit(keyForm, keyError, async () => sessionFromApiKey(apiKey.value), options);
  main.append(h('div', { class: 'two-columns' }, devForm, keyForm));
}
