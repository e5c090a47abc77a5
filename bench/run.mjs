/** `npm run bench`: every benchmark in bench/, one markdown document, also written to bench/results.md. */
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';

const dir = import.meta.dirname;
const suites = ['recordings.mjs', 'storage-providers.mjs', 'ffmpeg-engines.mjs', 'live-throughput.mjs', 'compliance.mjs', 'transcription.mjs', 'audit.mjs'].filter((f) => existsSync(path.join(dir, f)));
const only = process.argv.slice(2);
const sections = [`# Benchmarks\n\n${new Date().toISOString()} · ${cpus().length} cores · ${cpus()[0]?.model ?? ''}\n`];
for (const file of suites) {
  if (only.length && !only.some((o) => file.startsWith(o))) continue;
  console.error(`running ${file} …`);
  const mod = await import(path.join(dir, file));
  const result = await mod.run();
  const text = typeof result === 'string' ? result : typeof mod.markdownTable === 'function' ? mod.markdownTable(result) : JSON.stringify(result, null, 2);
  sections.push(`## ${file}\n\n${text}\n`);
}
const doc = sections.join('\n');
writeFileSync(path.join(dir, 'results.md'), doc);
console.log(doc);
