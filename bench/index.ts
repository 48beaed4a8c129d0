/**
 * `npm run bench`: runs every benchmark area one after another, each in its own process (so
 * one area's leftovers never skew the next), then leaves their results in bench/RESULTS.md.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'

const areas = [
  { name: 'store', entry: 'bench/store.ts', result: 'bench/store/last-run.md' },
  { name: 'sync', entry: 'bench/sync/index.ts', result: 'bench/sync/last-run.md' },
  { name: 'scale', entry: 'bench/scale.ts', result: 'bench/scale/last-run.md' },
  { name: 'memory', entry: 'bench/memory.ts', result: 'bench/memory/last-run.md' },
  { name: 'replay', entry: 'bench/replay.ts', result: 'bench/replay/last-run.md' },
  { name: 'agents', entry: 'bench/agents.ts', result: 'bench/agents/last-run.md' },
  { name: 'hardening', entry: 'bench/hardening/stalled-reader.ts', result: 'bench/hardening/last-run.md' },
  { name: 'inspector', entry: 'bench/inspector.ts', result: 'bench/inspector/last-run.md' },
]

const only = process.argv.slice(2).filter((a) => !a.startsWith('--'))
// --collect: only gather each area's last run into bench/RESULTS.md, running nothing.
const collectOnly = process.argv.includes('--collect')
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('--') && a !== '--collect')
for (const area of areas) {
  if (collectOnly || (only.length && !only.includes(area.name))) continue
  if (!existsSync(area.entry)) {
    console.log(`\n## ${area.name}: no benchmark yet (${area.entry})`)
    continue
  }
  console.log(`\n## ${area.name}`)
  const run = spawnSync(process.execPath, ['--import', 'tsx', area.entry, ...passThrough], { stdio: 'inherit' })
  if (run.status !== 0) console.log(`${area.name}: exited with ${run.status}`)
}

const sections = areas
  .filter((a) => existsSync(a.result))
  .map((a) => readFileSync(a.result, 'utf8').trim())
writeFileSync('bench/RESULTS.md', [
  '# Benchmark results',
  '',
  'The last results of each area, as its own run left them (`npm run bench` runs all; `npm run bench:<area>` one).',
  'The machine has 2 cores; each section says what shared them.',
  '',
  ...sections.map((s) => s.replace(/^# /, '## ') + '\n'),
].join('\n'))
console.log('\nwrote bench/RESULTS.md')
