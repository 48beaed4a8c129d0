/**
 * The reference peer: `@y/websocket-server`'s `setupWSConnection` on a plain `ws`
 * WebSocketServer over node:http, in memory (no YPERSISTENCE, no callback), on a free
 * loopback port.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'
import { announceListening, exitWithParent } from './announce.js'

const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain' })
  response.end('ok')
})
const wss = new WebSocketServer({ noServer: true })
server.on('upgrade', (request, socket, head) => {
  // The document name is the URL path (`sync/<session>`), as the package's own server does.
  wss.handleUpgrade(request, socket, head, (ws) => setupWSConnection(ws, request))
})
server.listen(0, '127.0.0.1', () => {
  announceListening('reference', (server.address() as AddressInfo).port)
})
exitWithParent()
