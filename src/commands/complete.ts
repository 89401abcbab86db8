import {Args} from '@oclif/core'

import {agentDir} from '../agent/agent-dir.js'
import {cachedNames, cacheFile} from '../completion/name-cache.js'
import {OBJECT_KINDS, type ObjectKind} from '../completion/objects.js'
import {EcCommand} from '../ec-command.js'
import {knownImages} from '../images/names.js'
import {groupKeys} from '../groups/model.js'
import {keys} from '../instances/keys.js'

export default class Complete extends EcCommand<typeof Complete> {
  static override hidden = true
  static override summary = 'Print the names of one kind of object, one a line, for shell completion (cached briefly).'
  static override args = {kind: Args.string({options: [...OBJECT_KINDS], required: true, description: 'What to name.'})}

  async run(): Promise<void> {
    const kind = this.args.kind as ObjectKind
    // The cache is per control plane: whatever picks the config and endpoints.
    const scope = JSON.stringify([
      this.flags.config,
      process.cwd(),
      ...['EC_CONFIG', 'EC_ETCD_ENDPOINTS', 'EC_ETCD_PREFIX', 'EC_PLACEMENT_URL'].map((v) => process.env[v]),
    ])
    const names = await cachedNames(cacheFile(this.config.cacheDir, kind, scope), () => this.prepareLookup(kind))
    if (names.length > 0) process.stdout.write(`${names.join('\n')}\n`)
    // A lookup that ran late may still be retrying a dead endpoint; closing
    // its client could wait on it too. The answer is out (stdout to a pipe is
    // synchronous): leave now.
    process.exit(0)
  }

  private async prepareLookup(kind: ObjectKind): Promise<() => Promise<string[]>> {
    const config = await this.effectiveConfig()
    switch (kind) {
      case 'instance': {
        const transport = await this.backend(config, 'transport', {shortLived: true})
        return async () => (await transport.list(keys.names())).items.map((kv) => kv.key.slice(keys.names().length))
      }

      case 'host': {
        const scheduler = await this.backend(config, 'scheduler')
        return async () => (await scheduler.listHosts()).map((h) => h.name)
      }

      case 'image':
        return async () => Object.keys(knownImages(config.values.images, agentDir(config)))
      case 'group': {
        const transport = await this.backend(config, 'transport')
        return async () => (await transport.list(groupKeys.groups())).items.map((kv) => kv.key.slice(groupKeys.groups().length))
      }
    }
  }
}
