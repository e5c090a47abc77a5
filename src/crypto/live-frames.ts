/**
 * Sealing of live audio while it waits in a call object's SQLite (the unsealed tail of the stream
 * and chunks that arrived early): nothing of a call is at rest in clear, not even for the 20 ms
 * before its 16 KiB chunk fills, and crypto-shredding reaches it, because the frame key is derived
 * from the recording's data key, which only the owner's (destroyable) user key unwraps.
 *
 * Stored frame = iv (12, random) ‖ AES-256-GCM(frame key, plaintext, AAD) ‖ tag (16), where
 *   frame key = HKDF-SHA-256(ikm = data key, salt = empty, info = "call-recorder/live-frame/v1")
 *   AAD = "<recording id>/<sequence>"
 * so a frame moved to another sequence or another call fails to open. IVs are random, not derived
 * from the sequence: a sequence may be written again after a write that never committed. A frame
 * holds the audio of one chunk, or of a run of consecutive chunks sealed together (the call object
 * takes the in-order chunks of one batch as one frame); `sequence` is then the run's first.
 */
import { GCM_IV_SIZE, GCM_TAG_SIZE, openWithIv, sealWithRandomIv } from './aes-gcm';

/** Bytes a stored frame has beyond its plaintext. */
export const FRAME_OVERHEAD = GCM_IV_SIZE + GCM_TAG_SIZE;

const encoder = new TextEncoder();
const FRAME_KEY_INFO = encoder.encode('call-recorder/live-frame/v1');

export class FrameSealer {
  private constructor(
    private readonly key: CryptoKey,
    private readonly recordingId: string,
  ) {}

  static async create(dataKey: Uint8Array, recordingId: string): Promise<FrameSealer> {
    const ikm = await crypto.subtle.importKey('raw', dataKey, 'HKDF', false, ['deriveKey']);
    const key = await crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: FRAME_KEY_INFO },
      ikm,
      { name: 'AES-GCM', length: 256 },
      false,
      ['encrypt', 'decrypt'],
    );
    return new FrameSealer(key, recordingId);
  }

  private aad(sequence: number): Uint8Array {
    return encoder.encode(`${this.recordingId}/${sequence}`);
  }

  /** The frame as it may be stored: iv ‖ ciphertext ‖ tag. */
  async seal(sequence: number, plaintext: Uint8Array): Promise<Uint8Array> {
    return sealWithRandomIv(this.key, plaintext, this.aad(sequence));
  }

  /** Inverse of `seal` for the same sequence; IntegrityError when the frame was altered or moved. */
  open(sequence: number, stored: Uint8Array): Promise<Uint8Array> {
    return openWithIv(this.key, stored, this.aad(sequence));
  }
}
