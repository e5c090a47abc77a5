/**
 * One `wrangler dev` for a whole test file: started before its first test, stopped after its
 * last. The returned handle reads through to the running instance, so tests write `dev.url`
 * and `dev.restart()` as if they held it. Kept apart from wrangler-dev.ts, which the benchmarks
 * import outside vitest.
 */
import { afterAll, beforeAll } from 'vitest';
import { startWranglerDev, type WranglerDev, type WranglerDevOptions } from './wrangler-dev.ts';

export function useWranglerDev(options: WranglerDevOptions = {}, startTimeoutMs = 180_000): WranglerDev {
  let running: WranglerDev | undefined;
  beforeAll(async () => {
    running = await startWranglerDev(options);
  }, startTimeoutMs);
  afterAll(async () => {
    await running?.stop();
  });
  const current = (): WranglerDev => {
    if (!running) throw new Error('wrangler dev is not running (its start failed, or a test ran outside the file)');
    return running;
  };
  return {
    get url() {
      return current().url;
    },
    get persistTo() {
      return current().persistTo;
    },
    restart: () => current().restart(),
    stop: () => current().stop(),
  };
}
