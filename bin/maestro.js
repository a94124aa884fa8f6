#!/usr/bin/env node
// The `maestro` command (package.json "bin"). In a clone it runs the TypeScript sources through
// @swc-node/register, as `npm run worker` does, so no build step is needed; in the image, where
// only the compiled dist/ and production dependencies are, it runs dist/.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const source = join(root, 'src', 'cli', 'maestro', 'main.ts');
const compiled = join(root, 'dist', 'src', 'cli', 'maestro', 'main.js');

function canRunSource() {
  if (!existsSync(source)) return false;
  try {
    require.resolve('@swc-node/register', { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

let entry;
if (canRunSource()) {
  // The project's tsconfig (decorators and their metadata), whatever the current directory.
  process.env.SWC_NODE_PROJECT ??= join(root, 'tsconfig.json');
  require(require.resolve('@swc-node/register', { paths: [root] }));
  entry = source;
} else if (existsSync(compiled)) {
  entry = compiled;
} else {
  process.stderr.write('maestro: neither the sources with their dev dependencies (npm ci) nor a build (npm run build) were found\n');
  process.exit(1);
}
require(entry)
  .run(process.argv)
  .then((code) => process.exit(code));
