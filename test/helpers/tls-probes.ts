// Whether a TLS client with given credentials gets into Placement or etcd:
// the probes the mutual-TLS tests (one machine and many) make.
import {Agent, request} from 'node:https'

import {EtcdTransport} from '../../plugins/etcd/src/transport.js'

type ClientTls = {ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer}

/** GET url over TLS with these client settings: the status, or the error that refused the connection. */
export function httpsGet(url: string, tls: ClientTls, timeoutMs: number): Promise<{status?: number; error?: string}> {
  return new Promise((resolve) => {
    const req = request(url, {agent: new Agent(tls), timeout: timeoutMs, headers: {'X-Auth-Token': 'admin'}}, (res) => {
      res.resume()
      res.on('end', () => resolve({status: res.statusCode}))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (error: NodeJS.ErrnoException) => resolve({error: error.code ?? error.message}))
    req.end()
  })
}

/** Whether one etcd member answers a read made with these client TLS settings. */
export async function etcdReads(endpoint: string, tls: ConstructorParameters<typeof EtcdTransport>[0]['tls'], timeoutMs: number): Promise<boolean> {
  const transport = new EtcdTransport({endpoints: [endpoint], prefix: '/ec', timeoutMs, tls})
  try {
    await transport.list('')
    return true
  } catch {
    return false
  } finally {
    await transport.close()
  }
}
