/**
 * One call of the wasm engine, in a worker thread of its own (see createWasmRunner in
 * engines.mjs): a fresh @ffmpeg/core instance from the module compiled once by the main thread,
 * the input copied into its in-memory file system, ffmpeg or ffprobe run to the end, the output
 * written back to disk, and the logs posted to the main thread.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { BoundedText } from './engines.mjs';

/** @type {{ module: WebAssembly.Module, coreUrl: string, stackRestoreExport: string, tool: 'ffmpeg' | 'ffprobe', args: string[], inputPath: string, outputPath?: string }} */
const { module, coreUrl, stackRestoreExport, tool, args, inputPath, outputPath } = workerData;

/**
 * @ffmpeg/core 0.12.10 is linked with Emscripten's default 64 KiB stack. libopus's encoder needs
 * more (stereo at 48 kHz): it overruns into static data and fails with "memory access out of
 * bounds" (ffmpeg.wasm issues #591 and #867; upstream's fix, a 5 MB stack in PR #824, is not
 * released). So each job first moves the stack pointer to the top of a heap block this large.
 */
const STACK_BYTES = 8 * 1024 * 1024;

try {
  // The core is Emscripten output built for browser workers only (ENVIRONMENT_IS_WORKER is fixed
  // at build time): it reads self.location.href when it loads, and @ffmpeg/ffmpeg refuses Node.
  // Given this and the compiled module through `instantiateWasm`, it fetches nothing.
  globalThis.self = /** @type {any} */ ({ location: { href: coreUrl } });
  const { default: createCore } = await import(coreUrl);
  /** @type {WebAssembly.Instance | undefined} */
  let instance;
  const core = await createCore({
    instantiateWasm(imports, receiveInstance) {
      WebAssembly.instantiate(module, imports).then(
        (created) => receiveInstance((instance = created), module),
        (error) => parentPort?.postMessage({ error: String(error) }),
      );
      return {};
    },
  });
  const stackBase = core._malloc(STACK_BYTES);
  if (!stackBase) throw new Error('no memory for the stack');
  /** @type {(pointer: number) => void} */ (instance?.exports[stackRestoreExport])((stackBase + STACK_BYTES) & ~15);
  const stdout = new BoundedText(8 * 1024 * 1024);
  const stderr = new BoundedText();
  core.setLogger(({ type, message }) => (type === 'stdout' ? stdout : stderr).push(`${message}\n`));
  core.FS.mkdir('/job');
  // canOwn: MEMFS keeps this buffer as the file's contents instead of copying it.
  core.FS.writeFile('/job/input', readFileSync(inputPath), { canOwn: true });
  // exec returns ffmpeg's exit status; ffprobe leaves it at -1, so its stdout is what tells.
  const code = tool === 'ffprobe' ? core.ffprobe(...args) : core.exec(...args);
  if (outputPath && code === 0) writeFileSync(outputPath, core.FS.readFile('/job/output'));
  parentPort?.postMessage({ code, stdout: stdout.toString(), stderr: stderr.toString() });
} catch (error) {
  parentPort?.postMessage({ error: error instanceof Error ? error.message : String(error) });
}
