import {Flags} from '@oclif/core'

import type {Override} from '../config/load.js'
import {controlPlaneFrom, stateDirFlag, stateDirOverride} from '../control-plane/from-config.js'
import type {UpResult} from '../control-plane/control-plane.js'
import {EcCommand} from '../ec-command.js'
import {renderTable} from '../output/table.js'

export default class Up extends EcCommand<typeof Up> {
  static override summary = 'Start this machine\'s share of the control plane: etcd, Placement (and its MariaDB).'
  static override description = `Starts real etcd and OpenStack Placement (noauth2) with their data, logs and pid files under the state directory, and returns once all answer. etcd and Placement require a client certificate from the cluster CA (created under <state>/pki on first start); the local admin's credentials are written to <state>/credentials.json (mode 0600), where every ec command finds them (--no-tls: plain HTTP, on loopback only unless --insecure). By default one machine on loopback: one etcd member and Placement on SQLite behind one gunicorn worker. --database mariadb runs a private MariaDB for Placement and several workers; --peers makes this machine one member of a multi-controller etcd cluster; --etcd-members 3 runs three members here to try one out. Running it again reports what is already running.`
  static override examples = [
    '<%= config.bin %> up',
    '<%= config.bin %> up --database mariadb --etcd-members 3',
    '<%= config.bin %> up --listen 10.0.0.1 --peers 10.0.0.1,10.0.0.2,10.0.0.3 --database mariadb',
    '<%= config.bin %> up --state-dir /var/lib/ec --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    'state-dir': stateDirFlag,
    listen: Flags.string({description: 'Address this controller\'s services listen on (controlPlane.host; default 127.0.0.1).'}),
    peers: Flags.string({
      description: 'Every controller\'s address, comma-separated, this one\'s included: run one member of that etcd cluster (controlPlane.etcd.peers).',
    }),
    'etcd-members': Flags.integer({
      description: 'Run this many etcd members on this machine, on consecutive addresses from --listen (127.0.0.1, .2, .3), to try out a cluster (controlPlane.etcd.members).',
      min: 1,
      max: 9,
    }),
    database: Flags.string({
      description: 'Placement\'s database: sqlite, mariadb (a private MariaDB under the state directory) or an SQLAlchemy URL (controlPlane.placement.database).',
    }),
    workers: Flags.integer({description: 'gunicorn workers for Placement over a server database (controlPlane.placement.workers; default: the number of cores).', min: 1, max: 64}),
    tls: Flags.boolean({
      description: 'Require client certificates from the cluster CA (controlPlane.tls; on by default). --no-tls serves plain HTTP.',
      allowNo: true,
    }),
    insecure: Flags.boolean({description: 'Allow --no-tls on an address other than loopback (controlPlane.insecure).'}),
  }

  async run(): Promise<UpResult> {
    const topology = topologyOverrides(this.flags)
    const config = await this.effectiveConfig([...stateDirOverride(this.flags['state-dir']), ...topology, ...tlsOverrides(this.flags)])
    const result = await controlPlaneFrom(config, {explicit: topology.length > 0}).up()
    for (const note of result.notes) this.logToStderr(`Note: ${note}`)
    this.log(
      renderTable(
        ['service', 'action', 'endpoint', 'version', 'pid'],
        result.services.map((s) => [s.name, s.action, s.endpoint, s.version, s.pid]),
      ),
    )
    this.log(`State directory: ${result.stateDir}`)
    return result
  }
}

/** The topology flags as config overrides (flags win over file and environment). */
function topologyOverrides(flags: {listen?: string; peers?: string; 'etcd-members'?: number; database?: string; workers?: number}): Override[] {
  const overrides: Override[] = []
  const set = (flag: string, path: string[], value: unknown) => {
    if (value !== undefined) overrides.push({path, value, origin: {kind: 'flag', flag}})
  }

  set('--listen', ['controlPlane', 'host'], flags.listen)
  set('--peers', ['controlPlane', 'etcd', 'peers'], flags.peers?.split(',').map((peer) => peer.trim()).filter(Boolean))
  set('--etcd-members', ['controlPlane', 'etcd', 'members'], flags['etcd-members'])
  set('--database', ['controlPlane', 'placement', 'database'], flags.database)
  set('--workers', ['controlPlane', 'placement', 'workers'], flags.workers)
  return overrides
}

/** --tls/--no-tls and --insecure as config overrides. */
function tlsOverrides(flags: {tls?: boolean; insecure?: boolean}): Override[] {
  const overrides: Override[] = []
  if (flags.tls !== undefined) overrides.push({path: ['controlPlane', 'tls'], value: flags.tls, origin: {kind: 'flag', flag: flags.tls ? '--tls' : '--no-tls'}})
  if (flags.insecure) overrides.push({path: ['controlPlane', 'insecure'], value: true, origin: {kind: 'flag', flag: '--insecure'}})
  return overrides
}
