/**
 * Transcripts at rest: the JSON of {text, segments} sealed in the chunked format (the same as the
 * audio, src/crypto/chunked.ts) under the recording's data key with the context `<id>/transcript`,
 * so a transcript cannot be opened as another recording's, and crypto-shredding the owner's key
 * makes it unreadable together with the audio.
 */
import { ChunkOpener, ChunkSealer, HEADER_SIZE, IntegrityError, createOpenStream, createSealStream, plaintextSize, CHUNK_SIZE } from '../crypto/chunked';
import type { TranscriptSegment } from './content';

export interface SealedWords {
  text: string;
  segments: TranscriptSegment[];
}

const context = (recordingId: string) => new TextEncoder().encode(`${recordingId}/transcript`);

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function sealTranscript(dataKey: Uint8Array, recordingId: string, words: SealedWords): Promise<Uint8Array> {
  const sealer = await ChunkSealer.create(dataKey, context(recordingId));
  const json = new TextEncoder().encode(JSON.stringify(words));
  return collect(new Response(json).body!.pipeThrough(createSealStream(sealer)));
}

/** Throws IntegrityError for a wrong key, another recording's transcript or altered bytes. */
export async function openTranscript(dataKey: Uint8Array, recordingId: string, sealed: Uint8Array): Promise<SealedWords> {
  const size = plaintextSize(sealed.length);
  const finalChunk = Math.floor(size / CHUNK_SIZE);
  const opener = await ChunkOpener.create(dataKey, context(recordingId), sealed.subarray(0, HEADER_SIZE));
  const plain = await collect(new Response(sealed.subarray(HEADER_SIZE)).body!.pipeThrough(createOpenStream(opener, 0, finalChunk, finalChunk)));
  try {
    return JSON.parse(new TextDecoder().decode(plain)) as SealedWords;
  } catch (cause) {
    throw new IntegrityError('authentication', 'a sealed transcript opened to something that is not JSON', { cause });
  }
}
