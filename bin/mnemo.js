#!/usr/bin/env node
// The `mnemo` command: runs the compiled CLI (built by `npm install` through the `prepare` script).
import { runCli } from '../dist/cli/index.js'

await runCli(process.argv)
