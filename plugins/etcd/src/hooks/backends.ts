// Announces the etcd transport to ec. Kept tiny: the gRPC client loads only
// when a command actually creates the backend.
import {type BackendDescriptor, defineBackend} from '@ec/plugin-api'

import {etcdSection} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    defineBackend({
      kind: 'transport',
      name: 'etcd',
      description: 'etcd v3: revisioned instance records, watches that resume, host leases',
      config: etcdSection,
      async create({section}) {
        const {EtcdTransport} = await import('../transport.js')
        return new EtcdTransport(section)
      },
    }),
  ]
}
