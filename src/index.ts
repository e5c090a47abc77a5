/** Worker entry: HTTP, cron and queue handlers; re-exports the Durable Object classes. */
import { createApp } from './app';
import type { Bindings } from './context';

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Bindings>;

export { LiveCall } from '../durable-objects/live-call';
export { FfmpegContainer } from './media/ffmpeg-container';
