/** Messages on the media queue, a contract between producers (uploads, live calls, cron, lifecycle routes) and the consumer (src/media/consumer.ts). */
export type MediaJob = { type: 'process'; recordingId: string; attempt?: number } | { type: 'transcribe'; recordingId: string };

/** Queue the processing of a finished recording (upload or live call). */
export async function enqueueProcessing(queue: Queue, recordingId: string): Promise<void> {
  await queue.send({ type: 'process', recordingId } satisfies MediaJob, { contentType: 'json' });
}

/** Queue the automatic transcription of a processed recording (its own message: retried on its own). */
export async function enqueueTranscription(queue: Queue, recordingId: string): Promise<void> {
  await queue.send({ type: 'transcribe', recordingId } satisfies MediaJob, { contentType: 'json' });
}
