import {Args, Flags} from '@oclif/core'
import {spawn} from 'node:child_process'
import {join} from 'node:path'

import {EcError} from '../../errors.js'
import {InstanceStore} from '../../instances/store.js'
import {hostKeyAlias, recordHostKeys} from '../../ssh/known-hosts.js'
import {sshArguments, sshTarget} from '../../ssh/ssh-target.js'
import {EcCommand} from '../../ec-command.js'

export default class InstanceSsh extends EcCommand<typeof InstanceSsh> {
  static override summary = 'Log in to an instance with ssh, or run a command there (after --).'
  static override description = `Connects to the host port forwarded to the guest's port 22 (user networking; run it on the instance's host unless libvirt.forwardAddress exposes it), or to the guest's own address. The guest's host keys must match the ones it reported when it phoned home: ec keeps them in <stateDir>/ssh/known_hosts and ssh checks strictly, so even the first connection is verified. Exits with ssh's status (the remote command's, or 255 when ssh failed).`
  static override examples = ['<%= config.bin %> instance ssh web1', '<%= config.bin %> instance ssh web1 -- cat /etc/hostname', '<%= config.bin %> instance ssh web1 --user root -i ~/.ssh/ops']
  static override strict = false
  static override args = {ref: Args.string({description: 'Instance id or name.', required: true})}
  static override flags = {
    user: Flags.string({char: 'u', description: 'Log in as this user (default: images.<name>.user, else debian).'}),
    identity: Flags.string({char: 'i', description: 'Private key file (default: the one beside the first --key-file given at create, else your ssh agent).'}),
  }

  async run(): Promise<void> {
    const config = await this.effectiveConfig()
    const store = new InstanceStore(await this.backend(config, 'transport', {shortLived: true}))
    const found = await store.find(this.args.ref)
    if (!found) throw new EcError('notFound', `no instance "${this.args.ref}"; list them with "ec instance list"`)
    const record = found.value
    const target = sshTarget(record, config.values.images, {user: this.flags.user, identity: this.flags.identity})
    if (!record.hostKeys?.length) {
      throw new EcError('notFound', `${record.name} never reported its SSH host keys (cloud-init's phone_home posts them), so its identity cannot be checked; ssh to it yourself if you trust the network`)
    }

    const knownHosts = join(config.values.stateDir, 'ssh', 'known_hosts')
    const alias = hostKeyAlias(record.id)
    await recordHostKeys(knownHosts, alias, record.hostKeys)
    const separator = this.argv.indexOf('--')
    const command = separator === -1 ? [] : this.argv.slice(separator + 1)
    process.exitCode = await runSsh(sshArguments(target, knownHosts, alias, command))
  }
}

function runSsh(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, {stdio: 'inherit'})
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new EcError('missingDependency', 'no ssh on PATH; install the OpenSSH client (apt-get install openssh-client)') : error),
    )
    // Ctrl-C belongs to the remote side: ssh gets it through the terminal.
    const ignore = () => undefined
    process.on('SIGINT', ignore)
    child.once('exit', (code, signal) => {
      process.off('SIGINT', ignore)
      resolve(code ?? (signal ? 128 + 2 : 255))
    })
  })
}
