/**
 * `npm start`: the whole service on http://127.0.0.1:${PORT:-3010}. Starts the FFmpeg server as a
 * local process (Cloudflare Containers need Docker, which local machines may lack) and
 * `wrangler dev` pointed at it; stops both together.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { devSettings } from './dev-settings.mjs';

const port = process.env.PORT ?? '3010';
const ffmpegPort = process.env.FFMPEG_PORT ?? String(Number(port) + 1);
const inspectorPort = process.env.INSPECTOR_PORT ?? String(Number(port) + 6219);
const { config } = devSettings();
const children = [];

/** Start a child; when `essential`, its exit stops everything, otherwise it is reported. */
function run(command, args, env = {}, essential = true) {
  const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  children.push(child);
  child.on('exit', (code) => {
    if (essential) shutdown(code ?? 0);
    else console.warn(`warning: ${args[0]} exited (${code}); /health will report ffmpeg down and processing will retry`);
  });
  return child;
}

function shutdown(code) {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  process.exit(code);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

const vars = ['--var', 'ENVIRONMENT:development'];
if (existsSync('containers/ffmpeg/server.mjs') && !config.FFMPEG_URL) {
  run(process.execPath, ['containers/ffmpeg/server.mjs'], {
    PORT: ffmpegPort,
    HOST: '127.0.0.1',
    FFMPEG_SHARED_SECRET: config.FFMPEG_SHARED_SECRET,
    NODE_PATH: 'containers/ffmpeg/node_modules',
  }, false);
  vars.push('--var', `FFMPEG_URL:http://127.0.0.1:${ffmpegPort}`);
}
run('npx', ['wrangler', 'dev', '--local', '--port', port, '--ip', '127.0.0.1', '--inspector-port', inspectorPort, '--enable-containers=false', '--test-scheduled', ...vars]);
