#!/usr/bin/env node
'use strict';
// The `featurelog` command. Runs the CLI app from its TypeScript sources through SWC, so a clone
// works with no build step; `@featurelog/*` resolve through the repo's tsconfig.json paths, found
// from this file (not the working directory), so `npx featurelog` works from any folder.
const { join } = require('node:path');
process.env.SWC_NODE_PROJECT = process.env.SWC_NODE_PROJECT || join(__dirname, '..', 'tsconfig.json');

// kafkajs 2.2.4 (its final release) arms a negative timer after every broker response on Node >= 23;
// Node then warns and uses 1 ms, which is what kafkajs meant. The warning is noise to a CLI user.
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0] && rest[0].type;
  if (type === 'TimeoutNegativeWarning') return;
  return emitWarning.call(process, warning, ...rest);
};

require('@swc-node/register');
const { main } = require('../apps/cli/src/main.ts');
main(process.argv).then((code) => {
  process.exitCode = code;
});
