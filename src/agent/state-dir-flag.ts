// --state-dir for the commands that work beside a host's agent (agent-dir.ts
// says where that is). Apart from agent-dir.ts so code that only needs the
// directory, such as the create fast path, never loads oclif.
import {Flags} from '@oclif/core'

export const agentStateDirFlag = Flags.string({description: "The host agent's state directory, if it was started with one."})
