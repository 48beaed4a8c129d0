/**
 * What every peer-server launcher does once listening: print one JSON line naming its
 * port (the shape mnemo's own log line has), and exit when its parent closes stdin, so a
 * killed orchestrator never leaves a server behind.
 */

export function announceListening (server: string, port: number): void {
  process.stdout.write(JSON.stringify({ level: 30, msg: 'listening', server, port, pid: process.pid }) + '\n')
}

export function exitWithParent (): void {
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.stdin.resume()
  process.on('SIGTERM', () => process.exit(0))
}
