/** The registry object: one per owner, capping how many calls they record at once (src/live/registry.ts). */
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../src/config';
import type { LiveRegistryRpc } from '../src/live/routing';
import { CallRegistry } from '../src/live/registry';

export class LiveRegistry extends DurableObject<Bindings> implements LiveRegistryRpc {
  private readonly registry = new CallRegistry(this.ctx.storage.sql);

  /** Take one of the owner's `limit` places for `callId` (true), or refuse (false). */
  claimCall(callId: string, limit: number, nowMs: number, staleAfterMs: number): boolean {
    return this.registry.claim(callId, limit, nowMs, staleAfterMs);
  }

  releaseCall(callId: string): void {
    this.registry.release(callId);
  }
}
