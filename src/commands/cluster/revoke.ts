import {Args} from '@oclif/core'

import {type RevokedCredentials, revokeCredentials} from '../../control-plane/client-credentials.js'
import {controlPlaneFrom, stateDirFlag, stateDirOverride} from '../../control-plane/from-config.js'
import {EcCommand} from '../../ec-command.js'

export default class ClusterRevoke extends EcCommand<typeof ClusterRevoke> {
  static override summary = 'Take NAME\'s access away: etcd and Placement refuse its certificates from the next connection on.'
  static override description = `Revokes every certificate "ec cluster credentials NAME" issued and publishes the new certificate revocation list, which etcd and Placement read on each new connection. A connection NAME already holds open to etcd lasts until it breaks (restarting the control plane closes it). Revoking again is not an error.`
  static override examples = ['<%= config.bin %> cluster revoke compute-2']
  static override enableJsonFlag = true
  static override args = {
    name: Args.string({description: 'The name the credentials were issued to.', required: true}),
  }
  static override flags = {
    'state-dir': stateDirFlag,
  }

  async run(): Promise<RevokedCredentials> {
    const config = await this.effectiveConfig(stateDirOverride(this.flags['state-dir']))
    const result = await revokeCredentials(controlPlaneFrom(config), this.args.name)
    this.log(
      result.revoked.length > 0
        ? `Revoked ${result.revoked.length} certificate${result.revoked.length > 1 ? 's' : ''} of ${result.name}; etcd and Placement refuse it from the next connection on.`
        : `${result.name}'s certificates were revoked already.`,
    )
    return result
  }
}
