/**
 * Vitest global setup: builds the web app into dist/web before any test runs, so that a
 * wrangler.toml with `[assets] directory = "./dist/web"` finds its directory (the workers pool and
 * `wrangler deploy --dry-run` both read it).
 */
import { buildWeb } from './service';

export default function setup(): void {
  buildWeb();
}
