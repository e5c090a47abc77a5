/** Upload helpers for tests. */
import { env } from 'cloudflare:test';
import { appendAudit, auditLedger } from '../../src/compliance/audit-log';
import type { Config } from '../../src/config';
import type { Database } from '../../src/context';
import type { UploadDeps } from '../../src/recordings/upload';
import type { BlobStore } from '../../src/storage/blob-store';
import { createApp } from '../../src/app';
import { as, call } from './auth';

export const fields = { callId: 'call-1', callerPhone: '+14155550100', receiverPhone: '+442071838750', startTime: new Date().toISOString() };

export async function uploadRaw(user: string, bytes: Uint8Array, extra: Record<string, string> = {}, contentType = 'audio/wav'): Promise<Response> {
  const query = new URLSearchParams({ ...fields, ...extra });
  return call(`/api/v1/recordings?${query}`, { method: 'POST', headers: { ...(await as(user)), 'content-type': contentType }, body: bytes });
}

export async function uploadOk(user: string, bytes: Uint8Array, extra: Record<string, string> = {}): Promise<{ id: string; size: number; status: string; userId: string }> {
  const res = await uploadRaw(user, bytes, extra);
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/** The app with some settings overridden (a fresh env object gets its own parsed config). */
export function callWith(overrides: Record<string, string>, path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
  return Promise.resolve(createApp().fetch(new Request(new URL(path, 'http://recorder.test'), init), { ...env, ...overrides }, ctx));
}

export async function bytesOf(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Dependencies for calling the upload service directly: `queue` takes the media job (and the
 * webhook, when WEBHOOK_URL is set); audit events go to the real ledger of the test's env.
 */
export function uploadServiceDeps(db: Database, store: BlobStore, config: Config, queue: Queue): UploadDeps {
  const ledger = auditLedger(env, config);
  return {
    db,
    store,
    config,
    mediaQueue: queue,
    webhookQueue: queue,
    audit: async (event) => {
      await appendAudit(ledger, { ...event, actor: 'test-upload', actorRole: 'admin' });
    },
  };
}
