// Where a host's agent keeps its identity and what its backends own
// (instances, images, metadata). Commands that act on the host's side — the
// agent itself, the console, the image cache, the metadata service — must all
// agree on it, so it is made here only.
import {join} from 'node:path'

import type {EffectiveConfig} from '../config/load.js'

export function agentDir(config: EffectiveConfig): string {
  return join(config.values.stateDir, 'compute')
}
