/** What every screen receives from the shell, and what it gives back. */
import type { Api } from './api';
import type { Session } from './session';

export interface ViewContext {
  session: Session;
  api: Api;
  /** Say something to everyone: shown as a notice and read by screen readers. */
  announce(message: string, kind?: 'info' | 'error'): void;
  /** Go to a route such as `#/recordings/rec_…`. */
  navigate(hash: string): void;
  /** Set the page's heading and document title. */
  title(text: string): void;
}

/** Renders into `main`; returns a clean-up run when the route changes (timers, sockets, media). */
export type View = (main: HTMLElement, context: ViewContext, params: string[]) => (() => void) | void;
