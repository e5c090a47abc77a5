/** Stopping the servers tests start. Erasable TypeScript only, so Node can import it directly. */
import type { ChildProcess } from 'node:child_process';

/** SIGTERM, then SIGKILL after `graceMs` (Azurite ignores SIGTERM; the FFmpeg server ends its jobs first). */
export async function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
