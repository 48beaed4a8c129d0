/**
 * `mnemo token`: mints a bearer token with the server's `MNEMO_AUTH_SECRET` and prints
 * it alone on stdout, so `TOKEN=$(npx mnemo token …)` just works.
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { capabilityProblem } from '../auth/capabilities.js'
import { budgetLimits, identityKinds, labelProblem, roles } from '../auth/identity.js'
import { sessionIdPattern } from '../vocabulary.js'
import type { Budget, IdentityKind, Role } from '../auth/identity.js'
import { mintToken, parseTtl } from '../auth/tokens.js'

interface TokenOptions {
  sub: string
  name: string
  kind: IdentityKind
  role: Role
  session?: string[]
  ttl: number
  model?: string
  onBehalfOf?: string
  can?: string[]
  budget?: Budget
  run?: string
  secret?: string
}

const label = (what: string) => (value: string): string => {
  const problem = labelProblem(value)
  if (problem) throw new InvalidArgumentError(`${what} ${problem}.`)
  return value
}

const collectSession = (value: string, previous: string[] | undefined): string[] => {
  if (value !== '*' && !sessionIdPattern.test(value)) {
    throw new InvalidArgumentError('A session id is 1–128 letters, digits, "_" or "-" (or "*" for all sessions).')
  }
  return [...(previous ?? []), value]
}

/** `--can a,b` (repeatable): capabilities, checked as the server checks them. */
const collectCan = (value: string, previous: string[] | undefined): string[] => {
  const added = value.split(',').map((c) => c.trim()).filter((c) => c !== '')
  for (const capability of added) {
    const problem = capabilityProblem(capability)
    if (problem) throw new InvalidArgumentError(`${problem}.`)
  }
  return [...(previous ?? []), ...added]
}

/** `--budget eventsPerRun=500,bytesPerRun=1000000` (repeatable). */
const collectBudget = (value: string, previous: Budget | undefined): Budget => {
  const budget: Budget = { ...previous }
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const match = /^([A-Za-z]+)=(\d+)$/.exec(part)
    const name = match?.[1] as keyof Budget | undefined
    if (!match || !name || !(budgetLimits as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`${JSON.stringify(part)} is not a limit: use ${budgetLimits.map((l) => `${l}=N`).join(', ')}.`)
    }
    const n = Number(match[2])
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number ≥ 1.`)
    budget[name] = n
  }
  return budget
}

const ttlSeconds = (value: string): number => {
  try {
    return parseTtl(value)
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message + '.')
  }
}

const examples = `
The secret must be the server's MNEMO_AUTH_SECRET (at least 32 bytes). Prefer the
environment variable to --secret: command lines are visible to other users.

Examples:
  $ export MNEMO_AUTH_SECRET=$(openssl rand -hex 32)   # once, shared with the server
  $ npx mnemo token --sub ada --name "Ada" --kind human --role editor
  $ npx mnemo token --sub agent-7 --name Navigator --kind agent --role editor \\
      --model claude-sonnet --on-behalf-of ada --session s1 --session s2 --ttl 7d
  $ npx mnemo token --sub agent-8 --name Annotator --kind agent --role editor --on-behalf-of ada \\
      --can 'annotations:write,decisions:vote,memory.*:append' --budget eventsPerRun=500 --run r-42
  $ TOKEN=$(npx mnemo token --sub bob --name Bob --kind human --role viewer --ttl 30m)
  $ curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3001/api/sessions
`

/**
 * Adds `token` to `program`. Output goes through commander's configured `writeOut`
 * (stdout by default), so tests capture it with `configureOutput` before registering.
 *
 * @example
 * const program = new Command('mnemo')
 * registerTokenCommand(program)
 * await program.parseAsync(process.argv)
 */
export function registerTokenCommand(program: Command, env: NodeJS.ProcessEnv = process.env): Command {
  return program
    .command('token')
    .description('Mint a bearer token (HS256 JWT) for a human or an agent and print it alone on stdout.')
    .addOption(new Option('--sub <id>', 'the identity\'s id (the JWT `sub`), e.g. ada or agent-7').argParser(label('--sub')).makeOptionMandatory())
    .addOption(new Option('--name <name>', 'display name shown to collaborators').argParser(label('--name')).makeOptionMandatory())
    .addOption(new Option('--kind <kind>', 'who holds the token').choices(identityKinds).makeOptionMandatory())
    .addOption(
      new Option('--role <role>', 'viewer reads; editor also edits and appends events; admin also creates, forks, imports and reads across sessions')
        .choices(roles)
        .makeOptionMandatory(),
    )
    .addOption(new Option('--session <id>', 'a session the token is valid for; repeat for several (default: all, "*")').argParser(collectSession))
    .addOption(new Option('--ttl <ttl>', 'lifetime: a number and s, m, h or d, like 90s, 30m, 1h, 7d').argParser(ttlSeconds).default(3600, '1h'))
    .addOption(new Option('--model <model>', 'agents only: the model behind the agent').argParser(label('--model')))
    .addOption(new Option('--on-behalf-of <id>', 'agents only: the id of the human the agent acts for').argParser(label('--on-behalf-of')))
    .addOption(new Option('--can <capabilities>',
      'scope the token to these capabilities, comma-separated (repeatable): <collection>:write for selections, explorationPath, '
      + 'annotations, decisions; decisions:vote (its own votes only); <event type or pattern>:append, like memory.*:append '
      + '(default: the role\'s full rights)').argParser(collectCan))
    .addOption(new Option('--budget <limits>', 'what the token may write: updatesPerMinute=N, eventsPerRun=N, bytesPerRun=N, comma-separated').argParser(collectBudget))
    .addOption(new Option('--run <id>', 'bind the token to one run: its connections and requests may name no other').argParser(label('--run')))
    .addOption(new Option('--secret <secret>', 'signing secret (default: $MNEMO_AUTH_SECRET)'))
    .addHelpText('after', examples)
    .action(async (options: TokenOptions, command: Command) => {
      const secret = options.secret ?? env.MNEMO_AUTH_SECRET
      if (secret === undefined || secret === '') {
        command.error('error: no signing secret: set MNEMO_AUTH_SECRET to the server\'s secret, or pass --secret.', { exitCode: 1, code: 'mnemo.token.noSecret' })
      }
      if (options.kind !== 'agent') {
        for (const [flag, value] of [['--model', options.model], ['--on-behalf-of', options.onBehalfOf]] as const) {
          if (value !== undefined) command.error(`error: ${flag} is only for --kind agent.`, { exitCode: 1, code: 'mnemo.token.invalid' })
        }
      }
      let token: string
      try {
        token = await mintToken(secret, {
          sub: options.sub,
          name: options.name,
          kind: options.kind,
          role: options.role,
          sessions: options.session,
          ttl: options.ttl,
          model: options.model,
          onBehalfOf: options.onBehalfOf,
          can: options.can,
          budget: options.budget,
          run: options.run,
        })
      } catch (error) {
        command.error(`error: ${(error as Error).message}`, { exitCode: 1, code: 'mnemo.token.invalid' })
      }
      const writeOut = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text))
      writeOut(`${token}\n`)
    })
}
