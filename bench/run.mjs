/**
 * `npm run bench`: every benchmark in bench/, one markdown document, also written to bench/results.md.
 * `npm run bench -- live audit` runs the suites whose file names start so; the sections of the
 * other suites in results.md are kept as they were (each section says when it was measured).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';

const dir = import.meta.dirname;
const resultsFile = path.join(dir, 'results.md');
const suites = ['recordings.mjs', 'storage-providers.mjs', 'ffmpeg-engines.mjs', 'live-throughput.mjs', 'compliance.mjs', 'transcription.mjs', 'audit.mjs'].filter((f) => existsSync(path.join(dir, f)));
const only = process.argv.slice(2);
const machine = `${cpus().length} cores · ${cpus()[0]?.model ?? ''}`;

/** The sections of the results file as it is: `## <suite file>` up to the next one. */
function previousSections() {
  const sections = new Map();
  if (!existsSync(resultsFile)) return sections;
  const parts = readFileSync(resultsFile, 'utf8').split(/^(?=## \S+\.mjs\s*$)/m);
  for (const part of parts) {
    const name = /^## (\S+\.mjs)\s*$/m.exec(part)?.[1];
    if (name && part.startsWith('## ')) sections.set(name, part.trimEnd() + '\n');
  }
  return sections;
}

const sections = previousSections();
for (const file of suites) {
  if (only.length && !only.some((o) => file.startsWith(o))) continue;
  console.error(`running ${file} …`);
  const mod = await import(path.join(dir, file));
  const result = await mod.run();
  const text = typeof result === 'string' ? result : typeof mod.markdownTable === 'function' ? mod.markdownTable(result) : JSON.stringify(result, null, 2);
  sections.set(file, `## ${file}\n\nMeasured ${new Date().toISOString()} · ${machine}\n\n${text.trimEnd()}\n`);
}
const doc = [`# Benchmarks\n\nEach section is one suite's last run (\`npm run bench\` runs all, \`npm run bench -- <suite>\` one).\n`, ...suites.filter((f) => sections.has(f)).map((f) => sections.get(f))].join('\n');
writeFileSync(resultsFile, doc);
console.log(doc);
