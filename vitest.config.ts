/**
 * Two test projects: `workers` runs inside workerd through the Cloudflare vitest plugin, with the
 * bindings of wrangler.toml, D1 migrations applied in test/setup.ts and test-only secrets;
 * `node` runs what must be driven from outside the runtime (the FFmpeg server, emulators,
 * end-to-end tests against `wrangler dev`, the browser).
 */
import path from 'node:path';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { TEST_SECRETS } from './test/support/secrets';

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, 'migrations'));
  return {
    test: {
      testTimeout: 60_000,
      hookTimeout: 120_000,
      projects: [
        {
          plugins: [
            cloudflareTest(async ({ inject }) => ({
              wrangler: { configPath: './wrangler.toml' },
              // The AI binding is Cloudflare's (no local simulation, no network here): tests never reach it.
              remoteBindings: false,
              miniflare: {
                bindings: {
                  ...TEST_SECRETS,
                  ENVIRONMENT: 'test',
                  LOG_LEVEL: 'warn',
                  // The FFmpeg worker started by test/global-setup-ffmpeg.ts.
                  FFMPEG_URL: inject('ffmpegUrl'),
                  TEST_MIGRATIONS: migrations,
                },
              },
            })),
          ],
          test: {
            name: 'workers',
            include: ['test/**/*.test.ts'],
            exclude: ['test/node/**'],
            setupFiles: ['./test/setup.ts'],
            globalSetup: ['./test/global-setup-emulators.ts', './test/global-setup-ffmpeg.ts'],
          },
        },
        {
          test: {
            name: 'node',
            include: ['test/node/**/*.test.ts'],
            globalSetup: ['./test/e2e/global-setup-web.ts'],
            environment: 'node',
          },
        },
      ],
    },
  };
});
