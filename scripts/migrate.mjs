/** Apply D1 migrations: `npm run migrate` (local, the default) or `npm run migrate -- --remote`. */
import { spawnSync } from 'node:child_process';

const remote = process.argv.includes('--remote');
const args = ['wrangler', 'd1', 'migrations', 'apply', 'DB', remote ? '--remote' : '--local'];
const result = spawnSync('npx', args, { stdio: 'inherit', env: { ...process.env, CI: process.env.CI ?? 'true' } });
process.exit(result.status ?? 1);
