#!/usr/bin/env node
/**
 * `npm test`: the type-check and the suite side by side, one result. The suite waits on servers,
 * child processes and timers for much of its run, so a cold type-check (15-20 s of CPU) fits in
 * beside it instead of in front of it. The type-check's output is printed once both are done (on
 * its own it prints nothing); the exit code fails when either failed. Arguments go to vitest.
 */
import { spawn } from 'node:child_process'

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

const typecheck = new Promise((resolve) => {
  const child = spawn(npm, ['run', '--silent', 'typecheck'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const output = []
  child.stdout.on('data', (chunk) => output.push(chunk))
  child.stderr.on('data', (chunk) => output.push(chunk))
  child.on('error', (error) => resolve({ code: 1, output: `could not run the type-check: ${error.message}\n` }))
  child.on('close', (code) => resolve({ code: code ?? 1, output: Buffer.concat(output).toString() }))
})

const suite = new Promise((resolve) => {
  const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)], { stdio: 'inherit' })
  child.on('error', (error) => {
    console.error(`could not run vitest: ${error.message}`)
    resolve(1)
  })
  child.on('close', (code) => resolve(code ?? 1))
})

const [checked, tested] = await Promise.all([typecheck, suite])
if (checked.code === 0) {
  console.log('Type-check (tsc, the sources, tests, benchmarks and the web page): passed.')
} else {
  process.stdout.write(checked.output)
  console.error(`Type-check failed (exit code ${checked.code}): the errors are above. Run \`npm run typecheck\` alone to see them again.`)
}
process.exit(checked.code !== 0 ? checked.code : tested)
