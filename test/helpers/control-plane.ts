// A real control plane for tests: `ec up` (real etcd, real Placement) in a
// sandbox on free loopback ports, torn down with `ec down --purge`.
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {makeSandbox, parseJson, runEc, type RunResult, type Sandbox} from './cli.js'
import {registerCredentials} from './credentials.js'
import {freePorts} from './ports.js'

export interface TestControlPlane {
  sandbox: Sandbox
  stateDir: string
  configFile: string
  etcdEndpoint: string
  placementUrl: string
  /** The local admin's credentials bundle that `ec up` wrote (mutual TLS). */
  credentialsFile: string
  /** Client TLS settings for EtcdTransport / PlacementScheduler built in a test: `{credentials}`. */
  clientTls: {credentials: string}
  /** Environment for running ec against this control plane (EC_CONFIG set). */
  env: NodeJS.ProcessEnv
  ec(args: string[]): Promise<RunResult>
  stop(): Promise<void>
}

export async function startControlPlane(extraConfig = ''): Promise<TestControlPlane> {
  const sandbox = makeSandbox('ec-cp-')
  const [clientPort, peerPort, placementPort] = await freePorts(3)
  const stateDir = join(sandbox.dir, 'state', 'ec')
  const configFile = join(sandbox.dir, 'ec.config.yaml')
  writeFileSync(
    configFile,
    [
      `stateDir: ${stateDir}`,
      'controlPlane:',
      '  etcd:',
      `    clientPort: ${clientPort}`,
      `    peerPort: ${peerPort}`,
      '  placement:',
      `    port: ${placementPort}`,
      extraConfig,
    ].join('\n'),
  )
  const env = {...sandbox.env, EC_CONFIG: configFile}
  const ec = (args: string[]) => runEc(args, {env, cwd: sandbox.dir})
  const up = await ec(['up', '--json'])
  if (up.code !== 0) {
    sandbox.cleanup()
    throw new Error(`ec up failed (exit ${up.code}):\n${up.stdout}\n${up.stderr}`)
  }

  const {services} = parseJson<{services: Array<{name: string; endpoint: string}>}>(up)
  const endpoint = (name: string) => services.find((s) => s.name === name)!.endpoint
  const credentialsFile = join(stateDir, 'credentials.json')
  const forget = registerCredentials(credentialsFile, [endpoint('etcd'), endpoint('placement')])
  return {
    sandbox,
    stateDir,
    configFile,
    etcdEndpoint: endpoint('etcd'),
    placementUrl: endpoint('placement'),
    credentialsFile,
    clientTls: {credentials: credentialsFile},
    env,
    ec,
    async stop() {
      const down = await ec(['down', '--purge', '--json'])
      forget()
      sandbox.cleanup()
      if (down.code !== 0) throw new Error(`ec down failed (exit ${down.code}):\n${down.stdout}\n${down.stderr}`)
    },
  }
}
