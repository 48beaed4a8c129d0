import { Command, CommanderError } from 'commander'
import { describe, expect, it } from 'vitest'
import { verifyToken } from '../src/auth/tokens.js'
import { registerTokenCommand } from '../src/cli/token.js'

const secret = 'cli-secret-cli-secret-cli-secret-cli'

/** Runs `mnemo token …` in-process, capturing what it writes and how it exits. */
async function run(args: string[], env: NodeJS.ProcessEnv = { MNEMO_AUTH_SECRET: secret }) {
  const out: string[] = []
  const err: string[] = []
  const program = new Command('mnemo')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void out.push(s), writeErr: (s) => void err.push(s) })
  registerTokenCommand(program, env)
  let error: CommanderError | undefined
  try {
    await program.parseAsync(['token', ...args], { from: 'user' })
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e
    error = e
  }
  return { stdout: out.join(''), stderr: err.join(''), error }
}

const human = ['--sub', 'ada', '--name', 'Ada Lovelace', '--kind', 'human', '--role', 'editor']

describe('mnemo token', () => {
  it('prints only a token that verifies, with every session for an hour by default', async () => {
    const { stdout, stderr, error } = await run(human)
    expect(error).toBeUndefined()
    expect(stderr).toBe('')
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/)
    const identity = await verifyToken(secret, stdout.trim())
    expect(identity).toMatchObject({ id: 'ada', name: 'Ada Lovelace', kind: 'human', role: 'editor', sessions: ['*'] })
    const ttl = identity.exp! - Math.floor(Date.now() / 1000)
    expect(ttl).toBeGreaterThan(3500)
    expect(ttl).toBeLessThanOrEqual(3600)
  })

  it('mints an agent token with sessions, ttl, model and onBehalfOf', async () => {
    const { stdout, error } = await run([
      '--sub', 'agent-7', '--name', 'Navigator', '--kind', 'agent', '--role', 'viewer',
      '--session', 's1', '--session', 's2', '--ttl', '7d', '--model', 'claude', '--on-behalf-of', 'ada',
    ])
    expect(error).toBeUndefined()
    const identity = await verifyToken(secret, stdout.trim())
    expect(identity).toMatchObject({ id: 'agent-7', kind: 'agent', role: 'viewer', sessions: ['s1', 's2'], model: 'claude', onBehalfOf: 'ada' })
    expect(identity.exp! - Math.floor(Date.now() / 1000)).toBeGreaterThan(6 * 86400)
  })

  it('prefers --secret over the environment', async () => {
    const other = 'other-secret-other-secret-other-secret'
    const { stdout } = await run([...human, '--secret', other])
    await expect(verifyToken(other, stdout.trim())).resolves.toMatchObject({ id: 'ada' })
    await expect(verifyToken(secret, stdout.trim())).rejects.toMatchObject({ code: 'token_invalid' })
  })

  const failures: [string, string[], NodeJS.ProcessEnv | undefined, RegExp][] = [
    ['no secret', human, {}, /no signing secret: set MNEMO_AUTH_SECRET .* or pass --secret/],
    ['a short secret', human, { MNEMO_AUTH_SECRET: 'short' }, /at least 32 bytes, got 5/],
    ['a missing --sub', human.slice(2), undefined, /required option '--sub <id>' not specified/],
    ['a bad --kind', ['--sub', 'a', '--name', 'A', '--kind', 'robot', '--role', 'viewer'], undefined, /'robot' is invalid. Allowed choices are human, agent/],
    ['a bad --role', ['--sub', 'a', '--name', 'A', '--kind', 'human', '--role', 'root'], undefined, /'root' is invalid. Allowed choices are viewer, editor, admin/],
    ['a bad --ttl', [...human, '--ttl', '2 weeks'], undefined, /Invalid TTL "2 weeks": use a whole number followed by s, m, h or d/],
    ['a bad --session', [...human, '--session', 'a/b'], undefined, /A session id is 1–128 letters, digits/],
    ['a long --name', ['--sub', 'a', '--name', 'x'.repeat(200), '--kind', 'human', '--role', 'viewer'], undefined, /--name must be at most 128 characters/],
    ['--model for a human', [...human, '--model', 'm'], undefined, /--model is only for --kind agent/],
  ]
  for (const [what, args, env, message] of failures) {
    it(`refuses ${what} with a clear message and no output`, async () => {
      const { stdout, stderr, error } = await run(args, env)
      expect(stdout).toBe('')
      expect(error?.exitCode).toBe(1)
      expect(stderr).toMatch(message)
    })
  }

  it('has help with an example', async () => {
    const { stdout, error } = await run(['--help'])
    expect(error?.code).toBe('commander.helpDisplayed')
    expect(stdout).toMatch(/Usage: mnemo token \[options\]/)
    expect(stdout).toMatch(/--session <id>/)
    expect(stdout).toMatch(/Examples:\n\s+\$ export MNEMO_AUTH_SECRET/)
  })
})
