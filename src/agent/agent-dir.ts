// Where a host's agent keeps its identity and what its backends own
// (instances, images, metadata). Commands that act on the host's side — the
// agent itself, the console, the image cache, the metadata service — must all
// agree on it, so it is made here only.
import {Flags} from '@oclif/core'
import {join} from 'node:path'

import type {EffectiveConfig} from '../config/load.js'

export function agentDir(config: EffectiveConfig): string {
  return join(config.values.stateDir, 'compute')
}

/** --state-dir for the commands that work beside a host's agent. */
export const agentStateDirFlag = Flags.string({description: "The host agent's state directory, if it was started with one."})
