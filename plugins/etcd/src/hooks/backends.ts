// Announces the etcd transport to ec. Kept tiny: the gRPC client loads only
// when a command actually creates the backend, as one bundled file when the
// build made one (scripts/bundle-backends.mjs).
import {type BackendDescriptor, defineBackend, importBundled} from '@ec/plugin-api'

import {etcdSection} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    defineBackend({
      kind: 'transport',
      name: 'etcd',
      description: 'etcd v3: revisioned instance records, watches that resume, host leases',
      config: etcdSection,
      async create({section, shortLived}) {
        // A short-lived command reads with one HTTP/2 call (no gRPC client to load);
        // with etcd's user/password authentication, which that path does not
        // do, it takes the etcd3 transport like everything else.
        if (shortLived && !section.username) {
          const {EtcdCliTransport} = await import('../cli-transport.js')
          return new EtcdCliTransport(section)
        }

        const {EtcdTransport} = await importBundled(new URL('../transport.bundle.mjs', import.meta.url), () => import('../transport.js'))
        return new EtcdTransport(section)
      },
    }),
  ]
}
