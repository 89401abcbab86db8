// Announces the etcd transport to ec. Kept tiny: the gRPC client loads only
// when a command actually creates the backend.
import type {BackendDescriptor} from 'ec/plugins'

import {etcdSection, type EtcdSettings} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    {
      kind: 'transport',
      name: 'etcd',
      description: 'etcd v3: revisioned instance records, watches that resume, host leases',
      config: etcdSection,
      async create(context) {
        const {EtcdTransport} = await import('../transport.js')
        return new EtcdTransport(context.section as unknown as EtcdSettings)
      },
    },
  ]
}
