import { ensureConsoleBuilt } from './console-build';

/**
 * vitest globalSetup: the console is built once, before any test file runs (files run in parallel
 * forks; two builds at once would empty dist/ui under each other). A no-op when dist/ui is current.
 */
export default function setup(): void {
  ensureConsoleBuilt();
}
