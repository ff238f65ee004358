#!/usr/bin/env node
'use strict';
// The `featurelog` command: the CLI compiled into dist/ by `npm run build`, which npm runs as the
// `prepare` script on `npm install` / `npm ci` in a checkout and on `npm pack`; an installed package
// ships dist/. From a checkout whose sources changed since, run `npm run build` again (or run the
// sources: node -r @swc-node/register apps/cli/src/main.ts).
let cli;
try {
  cli = require('../dist/apps/cli/src/main.js');
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes('dist/apps/cli/src/main.js')) {
    const root = require('node:path').join(__dirname, '..');
    process.stderr.write(`featurelog: BUILD_MISSING: ${root} has no dist/: run \`npm run build\` there\n`);
    process.exit(1);
  }
  throw error;
}
cli.run();
