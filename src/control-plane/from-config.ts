import {Flags} from '@oclif/core'

import type {EffectiveConfig, Override} from '../config/load.js'
import {ControlPlane} from './control-plane.js'

/** --state-dir for the control plane's commands (up, down, status). */
export const stateDirFlag = Flags.string({description: 'Where data, logs and pid files live (default: $XDG_STATE_HOME/ec).'})

/** The --state-dir flag as a config override (it wins over file and env). */
export function stateDirOverride(stateDir: string | undefined): Override[] {
  return stateDir ? [{path: ['stateDir'], value: stateDir, origin: {kind: 'flag', flag: '--state-dir'}}] : []
}

export function controlPlaneFrom(config: EffectiveConfig): ControlPlane {
  return new ControlPlane(config.values.stateDir, config.values.controlPlane)
}
