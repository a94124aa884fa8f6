import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes';

const UI_SOURCE = join(ROOT, 'ui');
export const UI_BUILD = join(ROOT, 'dist', 'ui');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds the console (as `npm run build:ui` does) when dist/ui is missing or older than ui/: tests
 * that serve it run from a fresh clone, where `npm test` has not built anything. About 3 s.
 */
export function ensureConsoleBuilt(): void {
  const index = join(UI_BUILD, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newestMtime(UI_SOURCE)) return;
  execFileSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', '-c', 'ui/vite.config.mts', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
}
