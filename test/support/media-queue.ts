/** The media queue in workerd tests: a queue that keeps what is sent to it, and one job delivered to the Worker's queue handler. */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test';
import type { Bindings } from '../../src/config';
import type { MediaJob } from '../../src/domain/media-jobs';
import worker from '../../src/index';

export const MEDIA_QUEUE = 'call-recorder-media';

/** A queue that keeps what is sent to it; with `refuse`, sending a job of that type throws instead. */
export function keepingQueue(refuse?: MediaJob['type']): { queue: Queue; sent: MediaJob[] } {
  const sent: MediaJob[] = [];
  const send = async (body: MediaJob) => {
    if (body.type === refuse) throw new Error('queue send failed');
    sent.push(body);
  };
  return { sent, queue: { send, sendBatch: async () => undefined } as unknown as Queue };
}

/** Deliver one job to the Worker's queue handler (as `queueName`), with a media queue that keeps what the handler sends. */
export async function deliverMediaJob(body: MediaJob, options: { kept?: ReturnType<typeof keepingQueue>; queueName?: string } = {}) {
  const kept = options.kept ?? keepingQueue();
  const id = crypto.randomUUID();
  const batch = createMessageBatch(options.queueName ?? MEDIA_QUEUE, [{ id, timestamp: new Date(), attempts: 1, body }]);
  const ctx = createExecutionContext();
  await (worker as ExportedHandler<Bindings>).queue!(batch, { ...env, MEDIA_QUEUE: kept.queue } as Bindings, ctx);
  const result = await getQueueResult(batch, ctx);
  return { acked: result.explicitAcks.includes(id), retried: result.retryMessages.some((m) => m.msgId === id), sent: kept.sent };
}
