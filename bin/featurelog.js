#!/usr/bin/env node
'use strict';
// The `featurelog` command. Runs the CLI app from its TypeScript sources through SWC, so a
// clone works with no build step; paths resolve from the repo's tsconfig.json.
const { join } = require('node:path');
process.env.SWCRC = process.env.SWCRC || 'false';
process.env.TS_NODE_PROJECT = process.env.TS_NODE_PROJECT || join(__dirname, '..', 'tsconfig.json');
require('@swc-node/register');
require('../apps/cli/src/main.ts');
