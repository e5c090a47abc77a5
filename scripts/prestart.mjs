/** Pre-start check for `npm start`: fail with the variable's name when a setting is invalid. */
import { devSettings } from './dev-settings.mjs';

try {
  const { config } = devSettings();
  if (config.usingDevDefaults.length > 0) {
    console.warn(`warning: using development defaults for ${config.usingDevDefaults.join(', ')} (see README); never use them in production`);
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
