/**
 * Builds the browser app (src/web) into dist/web, which Workers static assets serve next to the
 * API. Vanilla TypeScript, no framework; every file is served from the Worker's own origin.
 */
import path from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  root: path.join(import.meta.dirname, 'src/web'),
  base: '/',
  publicDir: 'public',
  build: {
    outDir: path.join(import.meta.dirname, 'dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    // Browsers that run MediaRecorder with Opus all load module scripts natively.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
