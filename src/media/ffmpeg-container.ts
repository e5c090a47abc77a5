/**
 * The Cloudflare Container that runs containers/ffmpeg in production. It is a Durable Object
 * class; the Worker reaches the server inside through it (see ffmpeg-client.ts).
 */
import { Container } from '@cloudflare/containers';
import { getConfig, type Secrets } from '../config';

export class FfmpegContainer extends Container<Env & Secrets> {
  override defaultPort = 8080;
  override sleepAfter = '5m';
  /**
   * No network at all: the server only answers the Worker, and ffmpeg reads untrusted audio, so
   * whatever a crafted file could make it fetch or send has nowhere to go.
   */
  override enableInternet = false;

  constructor(ctx: DurableObjectState<{}>, env: Env & Secrets) {
    super(ctx, env);
    this.envVars = { FFMPEG_SHARED_SECRET: getConfig(env).FFMPEG_SHARED_SECRET, FFMPEG_ENGINE: 'native' };
  }
}
