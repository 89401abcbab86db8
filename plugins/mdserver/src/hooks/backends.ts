// Announces this plugin's two metadata backends to ec. Both read the one
// `metadata:` section (the same object, so ec sees one owner). Kept tiny: the
// HTTP server and the ISO tooling load only when a backend is created.
import {type BackendDescriptor, defineBackend} from '@ec/plugin-api'

import {metadataSection, resolveMetadataSettings} from '../config.js'

export default async function backends(): Promise<BackendDescriptor[]> {
  return [
    defineBackend({
      kind: 'metadata',
      name: 'mdserver',
      description: 'HTTP metadata server: NoCloud-net seed URL per instance (SMBIOS serial), phone-home, optional EC2/OpenStack layouts',
      config: metadataSection,
      async create({section, stateDir, log}) {
        const {MdserverBackend} = await import('../mdserver.js')
        const backend = new MdserverBackend(resolveMetadataSettings(section, stateDir), log)
        await backend.resume()
        return backend
      },
    }),
    defineBackend({
      kind: 'metadata',
      name: 'configdrive',
      description: 'NoCloud config drive: a "cidata" ISO per instance attached as a CD-ROM; no network, no phone-home',
      config: metadataSection,
      async create({section, stateDir, log}) {
        const {ConfigDriveBackend} = await import('../configdrive.js')
        return new ConfigDriveBackend(resolveMetadataSettings(section, stateDir), log)
      },
    }),
  ]
}
