import {Args, Flags} from '@oclif/core'

import {type IssuedCredentials, issueCredentials} from '../../control-plane/client-credentials.js'
import {controlPlaneFrom, stateDirFlag, stateDirOverride} from '../../control-plane/from-config.js'
import {EcCommand} from '../../ec-command.js'

export default class ClusterCredentials extends EcCommand<typeof ClusterCredentials> {
  static override summary = 'Issue a credentials bundle for a host or user: the cluster CA, a client certificate and key for NAME, the endpoints.'
  static override description = `Run it where "ec up" runs (it needs the cluster CA). The bundle is one JSON file, mode 0600; on the other machine, pass it with --credentials FILE (or config credentials, EC_CREDENTIALS) to any command, e.g. "ec compute start --credentials FILE". "ec cluster revoke NAME" takes the access back.`
  static override examples = [
    '<%= config.bin %> cluster credentials compute-2 --out compute-2.json',
    '<%= config.bin %> compute start --credentials compute-2.json',
  ]
  static override enableJsonFlag = true
  static override args = {
    name: Args.string({description: 'Who the credentials are for (a host or user name: the certificate\'s CN).', required: true}),
  }
  static override flags = {
    'state-dir': stateDirFlag,
    out: Flags.string({description: 'Where to write the bundle (default: ./NAME.credentials.json); never overwritten.'}),
  }

  async run(): Promise<IssuedCredentials> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const issued = await issueCredentials(controlPlaneFrom(config), this.args.name, this.flags.out)
    this.log(`Wrote credentials for ${issued.name} to ${issued.file} (mode 0600; keep it secret).`)
    this.log(`etcd: ${issued.etcd.join(', ')}  Placement: ${issued.placement.join(', ')}`)
    this.log(`On that machine: ec compute start --credentials ${issued.file}`)
    return issued
  }
}
