/** Messages on the media queue. The producer is here; the consumer lives beside the engines. */
export type MediaJob = { type: 'process'; recordingId: string; attempt?: number };

/** Queue the processing of a finished recording (upload or live call). */
export async function enqueueProcessing(queue: Queue, recordingId: string): Promise<void> {
  await queue.send({ type: 'process', recordingId } satisfies MediaJob, { contentType: 'json' });
}
