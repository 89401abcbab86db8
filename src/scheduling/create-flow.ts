// What `ec instance create` does between its flags and its output, shared by
// the oclif command (src/commands/instance/create.ts) and the fast path that
// serves it without oclif (src/startup/instance-create.ts), so both turn the
// same flags into the same spec and follow the build the same way.
import {agentDir} from '../agent/agent-dir.js'
import type {EffectiveConfig} from '../config/load.js'
import {EcError} from '../errors.js'
import {validateGroupName} from '../groups/model.js'
import {GroupPlacement} from '../groups/store.js'
import {knownImages} from '../images/names.js'
import {followInstance} from '../instances/follow.js'
import type {InstanceRecord, InstanceSpec} from '../instances/model.js'
import type {InstanceStore} from '../instances/store.js'
import {quote} from '../output/escape.js'
import type {StepTracker} from '../output/step-tracker.js'
import type {DiskStrategy, PlacementPolicy, SchedulerBackend} from '@ec/plugin-api'
import {createInstance} from './create.js'
import type {DiskFrom} from './groups.js'
import {buildSpec, validateName} from './request.js'

/** The command's flags, by their names on the command line. */
export interface CreateFlags {
  flavor?: string
  vcpus?: number
  memory?: number
  disk?: number
  image?: string
  trait?: string[]
  'forbid-trait'?: string[]
  'member-of'?: string[]
  'in-tree'?: string
  'root-trait'?: string[]
  'numa-nodes'?: number
  'disk-from'?: DiskFrom
  'group-resources'?: string[]
  'group-policy'?: 'isolate' | 'none'
  group?: string
  'disk-strategy'?: DiskStrategy
  'key-file'?: string[]
  'user-data'?: string
  meta?: string[]
  publish?: string[]
}

/** The name (if given) and the validated spec, from the two positionals (a name and/or a raw request) and the flags. */
export function createSpecOf(
  positionals: {name?: string; request?: string},
  flags: CreateFlags,
  config: EffectiveConfig,
): {name?: string; spec: InstanceSpec} {
  const [first, second] = [positionals.name, positionals.request]
  const raw = first?.includes('=') ? first : second
  const name = first?.includes('=') ? undefined : first
  if (second && !second.includes('=')) throw new EcError('usage', `${quote(second)} is not a resource request; quote the request, e.g. 'resources=VCPU:1,MEMORY_MB:512,DISK_GB:1'`)
  const spec = buildSpec(
    {
      raw,
      flavor: flags.flavor,
      vcpus: flags.vcpus,
      memoryMb: flags.memory,
      diskGb: flags.disk,
      traits: flags.trait,
      forbiddenTraits: flags['forbid-trait'],
      memberOf: flags['member-of'],
      inTree: flags['in-tree'],
      rootTraits: flags['root-trait'],
      numaNodes: flags['numa-nodes'],
      diskFrom: flags['disk-from'],
      groupResources: flags['group-resources'],
      groupPolicy: flags['group-policy'],
      image: flags.image,
      diskStrategy: flags['disk-strategy'],
      keyFiles: flags['key-file'],
      userDataFile: flags['user-data'],
      meta: flags.meta,
      publish: flags.publish,
    },
    {...config.values, images: knownImages(config.values.images, agentDir(config))},
    process.cwd(),
    config.values.scheduling.maxUserDataBytes,
  )
  if (name) validateName(name)
  if (flags.group !== undefined) spec.group = validateGroupName(flags.group)
  return {name, spec}
}

/** The server group the spec joins, checked to exist: an unknown group is refused before anything is written. */
export async function openGroup(store: InstanceStore, spec: InstanceSpec): Promise<GroupPlacement | undefined> {
  if (!spec.group) return undefined
  const group = new GroupPlacement(store, spec.group)
  await group.check()
  return group
}

export interface CreateFlowOptions {
  store: InstanceStore
  scheduler: SchedulerBackend
  group?: GroupPlacement
  policy?: PlacementPolicy
  config: EffectiveConfig
  /** Follow the build until ACTIVE or ERROR; otherwise return the SCHEDULED record. */
  wait: boolean
  /** Told every step; aborted with the error when the flow fails. */
  tracker: StepTracker
}

/** Schedule the instance and, with `wait`, follow its build; a build that ends in ERROR is an EcError (instanceFailed). */
export async function createAndFollow(name: string | undefined, spec: InstanceSpec, options: CreateFlowOptions): Promise<InstanceRecord> {
  const {store, tracker, config} = options
  let record: InstanceRecord
  try {
    const scheduled = await createInstance(name, spec, {
      store,
      group: options.group,
      scheduler: options.scheduler,
      policy: options.policy,
      pendingTimeoutSeconds: config.values.scheduling.pendingTimeoutSeconds,
      onStep: (step, status, detail) => tracker.local(step, status, detail),
    })
    record = options.wait ? await followInstance(store, scheduled, tracker, {timeoutSeconds: config.values.scheduling.waitTimeoutSeconds}) : scheduled.value
  } catch (error) {
    tracker.abort(error as Error)
    throw error
  }

  if (record.state === 'ERROR') throw new EcError('instanceFailed', `${record.name} failed: ${record.error?.reason}`)
  return record
}
