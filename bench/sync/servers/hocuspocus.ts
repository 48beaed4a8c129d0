/**
 * The Hocuspocus peer: `@hocuspocus/server` 3 with no extensions (so no persistence),
 * on a free loopback port.
 */
import { Server } from '@hocuspocus/server'
import { announceListening, exitWithParent } from './announce.js'

const server = new Server({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false })
await server.listen()
announceListening('hocuspocus', server.address.port)
exitWithParent()
