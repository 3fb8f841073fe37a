#!/usr/bin/env node
// The gridpulse command line. Runs the TypeScript sources through tsx, so a clone works
// without a build step.
require('tsx/cjs');
require('../services/cli/main.ts').runCli(process.argv);
