import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {Flags} from '@oclif/core'

import type {ControlPlaneConfig} from '../config/defaults.js'
import type {EffectiveConfig, Override} from '../config/load.js'
import {ControlPlane} from './control-plane.js'

/** --state-dir for the control plane's commands (up, down, status). */
export const stateDirFlag = Flags.string({description: 'Where data, logs and pid files live (default: $XDG_STATE_HOME/ec).'})

/** The --state-dir flag as a config override (it wins over file and env). */
export function stateDirOverride(stateDir: string | undefined): Override[] {
  return stateDir ? [{path: ['stateDir'], value: stateDir, origin: {kind: 'flag', flag: '--state-dir'}}] : []
}

/** Where `ec up` records the control plane it started, so down and status find the same services. */
export function topologyFile(stateDir: string): string {
  return join(stateDir, 'control-plane.json')
}

/**
 * The control plane in this state directory: the one `ec up` last started
 * there, unless `explicit` (topology flags were given), else the config's.
 */
export function controlPlaneFrom(config: EffectiveConfig, options: {explicit?: boolean} = {}): ControlPlane {
  const {stateDir, controlPlane} = config.values
  const file = topologyFile(stateDir)
  if (!options.explicit && existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as ControlPlaneConfig
    return new ControlPlane(stateDir, {...controlPlane, ...saved})
  }

  return new ControlPlane(stateDir, controlPlane)
}
