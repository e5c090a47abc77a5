/** Worker entry: HTTP, cron and queue handlers; re-exports the Durable Object classes. */
import { createApp } from './app';
import type { Bindings } from './config';
import { runScheduled } from './compliance/scheduled';
import { handleWebhookBatch, isWebhookQueue } from './compliance/webhook-queue';
import { handleMediaBatch } from './media/consumer';

const app = createApp();

export default {
  fetch: app.fetch,
  queue: (batch, env) => (isWebhookQueue(batch.queue) ? handleWebhookBatch(batch, env) : handleMediaBatch(batch, env)),
  scheduled: (controller, env, ctx) => runScheduled(controller, env, ctx),
} satisfies ExportedHandler<Bindings>;

export { AuditSequencer } from '../durable-objects/audit-sequencer';
export { FleetMetrics } from '../durable-objects/fleet-metrics';
export { LiveCall } from '../durable-objects/live-call';
export { LiveConnection } from '../durable-objects/live-connection';
export { LiveRegistry } from '../durable-objects/live-registry';
export { FfmpegContainer } from './media/ffmpeg-container';
