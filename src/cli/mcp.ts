/**
 * `mnemo mcp`: serves one session to an MCP client over stdio (the client starts this
 * command). stdout carries only MCP messages; what a person should read goes to stderr.
 */
import { Command, Option } from 'commander'

interface McpOptions {
  url: string
  session: string
  token?: string
  id?: string
  name?: string
  run?: string
}

const examples = `
The MCP client starts this command and talks to it over stdin/stdout. In a client's
configuration (Claude Desktop's claude_desktop_config.json, say):

  "mcpServers": {
    "mnemo": {
      "command": "npx",
      "args": ["mnemo", "mcp", "--url", "http://127.0.0.1:3001", "--session", "demo"],
      "env": { "MNEMO_TOKEN": "<npx mnemo token --kind agent --role editor …>" }
    }
  }

Prefer MNEMO_TOKEN to --token: command lines are visible to other users.
`

export function registerMcpCommand(program: Command): Command {
  return program
    .command('mcp')
    .description('Serve a session to an MCP client over stdio: its operations as tools, its context as a resource.')
    .addOption(new Option('--url <url>', 'the mnemo server').env('MNEMO_URL').default('http://127.0.0.1:3001'))
    .addOption(new Option('--session <id>', 'the session to join').env('MNEMO_SESSION').makeOptionMandatory())
    .addOption(new Option('--token <token>', 'an agent token from `npx mnemo token` (needed when the server has MNEMO_AUTH_SECRET)').env('MNEMO_TOKEN'))
    .addOption(new Option('--id <id>', 'open mode only: the agent\'s id (default: a random agent-… id)'))
    .addOption(new Option('--name <name>', 'open mode only: the agent\'s display name').default('MCP agent'))
    .addOption(new Option('--run <run>', 'groups this run\'s work in the log (default: a new run-… id)'))
    .addHelpText('after', examples)
    .action(async (options: McpOptions) => {
      const { runMcpServer } = await import('../agent/mcpServer.js')
      const running = await runMcpServer({
        url: options.url,
        session: options.session,
        token: options.token,
        id: options.id,
        name: options.name,
        run: options.run,
      })
      const { me } = running.session
      process.stderr.write(`mnemo mcp: session "${options.session}" at ${options.url} as ${me.name} (${me.id}), run ${me.run}\n`)
      const stop = () => {
        void running.close().finally(() => process.exit(0))
      }
      process.stdin.once('end', stop)
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
}
