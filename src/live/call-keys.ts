/**
 * A call's two sealers, made from its data key: the chunked format's (the object in storage) and
 * the frame sealer (audio waiting in the call's SQLite). Memory does not survive eviction, so
 * after a restart both are rebuilt from the wrapped key and salt in the call's state, which
 * needs the owner's user key from D1: a user key destroyed meanwhile leaves the stored frames
 * unreadable, which is what crypto-shredding promises.
 */
import { getConfig, type Bindings } from '../config';
import { createDb } from '../db/client';
import { ChunkSealer } from '../crypto/chunked';
import { FrameSealer } from '../crypto/live-frames';
import { unwrapRecordingKey } from '../crypto/keys';
import type { CallState } from './call-store';

export interface CallSealers {
  chunks: ChunkSealer;
  frames: FrameSealer;
}

const encoder = new TextEncoder();

/** Both sealers of recording `recordingId` (`salt` absent: a fresh one for a new object). */
export async function sealersFor(dataKey: Uint8Array, recordingId: string, salt?: Uint8Array): Promise<CallSealers> {
  const [chunks, frames] = await Promise.all([ChunkSealer.create(dataKey, encoder.encode(recordingId), salt), FrameSealer.create(dataKey, recordingId)]);
  return { chunks, frames };
}

export class CallKeys {
  private sealers?: Promise<CallSealers>;

  constructor(private readonly env: Bindings) {}

  /** A new call's sealers, made while its data key is at hand (`undefined`: forget them). */
  adopt(sealers: Promise<CallSealers> | undefined): void {
    this.sealers = sealers;
  }

  for(state: CallState): Promise<CallSealers> {
    if (!this.sealers) {
      const sealers = (async () => {
        const config = getConfig(this.env);
        const dataKey = await unwrapRecordingKey(createDb(this.env.DB), config.MASTER_ENCRYPTION_KEY, state.owner, state.keyVersion, state.wrappedKey, state.recordingId);
        return sealersFor(dataKey, state.recordingId, state.salt);
      })();
      sealers.catch(() => {
        if (this.sealers === sealers) this.sealers = undefined;
      });
      this.sealers = sealers;
    }
    return this.sealers;
  }
}
