#!/usr/bin/env node
'use strict';
// The `featurelog` command. Runs the CLI app from its TypeScript sources through SWC, so a clone
// works with no build step; `@featurelog/*` resolve through the repo's tsconfig.json paths.
const { join } = require('node:path');
process.env.SWC_NODE_PROJECT = process.env.SWC_NODE_PROJECT || join(__dirname, '..', 'tsconfig.json');
require('@swc-node/register');
const { main } = require('../apps/cli/src/main.ts');
main(process.argv).then((code) => {
  process.exitCode = code;
});
