/**
 * Builds the browser app (src/web) into dist/web, which Workers static assets serve next to the
 * API. Vanilla TypeScript, no framework; every file is served from the Worker's own origin,
 * Swagger UI's too (copied from the pinned swagger-ui-dist into dist/web/docs/ for `GET /docs`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
/** The page's script and style, and the licence and notice that Apache-2.0 asks to ship with them. */
const SWAGGER_UI_FILES = ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE', 'NOTICE'];

function swaggerUiAssets(): Plugin {
  return {
    name: 'swagger-ui-assets',
    generateBundle() {
      for (const file of SWAGGER_UI_FILES) {
        const source = readFileSync(path.join(SWAGGER_UI_DIR, file));
        // The source map is not shipped, so the bundle must not point at it.
        const text = file.endsWith('.js') || file.endsWith('.css') ? source.toString('utf8').replace(/\n\/[/*]# sourceMappingURL=\S+(\s*\*\/)?\s*$/, '\n') : source;
        this.emitFile({ type: 'asset', fileName: `docs/${file}`, source: text });
      }
    },
  };
}

export default defineConfig({
  root: path.join(import.meta.dirname, 'src/web'),
  base: '/',
  publicDir: 'public',
  plugins: [swaggerUiAssets()],
  build: {
    outDir: path.join(import.meta.dirname, 'dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    // Browsers that run MediaRecorder with Opus all load module scripts natively.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
