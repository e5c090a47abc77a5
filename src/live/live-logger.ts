/** The logger of a live Durable Object, at the configured LOG_LEVEL, naming the object. */
import type { Bindings } from '../config';
import { createLogger, type LogLevel, type Logger } from '../observability/logger';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function liveLogger(env: Bindings, component: string, object: string): Logger {
  return createLogger({ component, object }, LEVELS.find((level) => level === env.LOG_LEVEL) ?? 'info');
}
