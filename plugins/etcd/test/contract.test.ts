// The etcd transport passes @ec/plugin-api's transport contract against a
// real etcd (started by `ec up`), including a watch resumed across an etcd
// restart: the gRPC transport every long-lived process uses, the one
// short-lived commands get (reads as one HTTP/2 gRPC call each, the rest
// through etcd3), and the gRPC transport as the build bundles it
// (scripts/bundle-backends.mjs: one file, etcd's protos parsed at build time),
// which is what the hook gives when the bundle is in force.
import {transportContract} from '@ec/plugin-api/testing'

import {startControlPlane, type TestControlPlane} from '../../../test/helpers/control-plane.js'
import {EtcdCliTransport} from '../src/cli-transport.js'
import {EtcdTransport} from '../src/transport.js'

const bundled = (await import(new URL('../dist/transport.bundle.mjs', import.meta.url).href)) as {EtcdTransport: typeof EtcdTransport}

for (const [name, Transport] of [
  ['etcd', EtcdTransport],
  ['etcd (short-lived: HTTP/2)', EtcdCliTransport],
  ['etcd (bundled)', bundled.EtcdTransport],
] as const) {
  describe(`${name} transport, conformance`, function () {
    this.timeout(120_000)
    let cp: TestControlPlane | undefined
    let prefixes = 0
    before(async () => {
      cp = await startControlPlane()
    })
    after(async () => cp?.stop())

    transportContract(name, {
      create: async () => new Transport({endpoints: [cp!.etcdEndpoint], prefix: `/contract${++prefixes}`, timeoutMs: 3000, tls: cp!.clientTls}),
      async interrupt() {
        const down = await cp!.ec(['down'])
        if (down.code !== 0) throw new Error(`ec down failed: ${down.stderr}`)
        const up = await cp!.ec(['up'])
        if (up.code !== 0) throw new Error(`ec up failed: ${up.stderr}`)
      },
      timeoutMs: 90_000,
    })
  })
}
